"""Space-time correspondence: label propagation, the contrastive random walk
(CRW) and TimeCycle losses, DAVIS-layout I/O. Imports no config.

    from correspondence import propagation
    masks = propagation.propagate_mask(feats, first_mask, (H, W))
"""
