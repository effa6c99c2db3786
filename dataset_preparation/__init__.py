"""Writing data: videos and images to TFRecords, the synthetic datasets.

Modules:
  tfrecord_io           SequenceExample building, sharded atomic writer,
                        dataset_info.json (shared by every writer below).
  conversion            shared core of the two conversion CLIs (reading,
                        resampling, resizing, annotations, workers, report).
  videos_to_tfrecords   folder of videos -> TFRecords (CLI + function).
  images_to_tfrecords   folder of frame folders -> TFRecords (CLI + function).
  synthetic             procedural pouring dataset (CLI + generate_dataset).
  synthetic_objects     moving objects with DAVIS-layout masks (CLI + function).
  generate              the synthetic datasets a config names (the only
                        code that generates data before reading it).
  download              resumable, checked downloads; safe archive extraction.
  download_pouring      the published Pouring TFRecords (CLI + function).
  download_penn_action  Penn Action frames + TCC phase labels, one dataset per
                        action (CLI + function).
"""
