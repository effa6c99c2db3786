"""Time-Contrastive Network losses; TensorFlow only, no CONFIG.

`tcn.losses` holds the n-pairs loss, the triplet loss with semi-hard negative
mining (multi-view TCN) and the single-view TCN triplet loss.
"""
