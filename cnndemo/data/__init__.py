"""Data: built-in data sets and user archives as uint8 tensors, and a batch loader that works on tensors."""
from .archive import ArchiveLimits, ImageFolderData, load_image_folder_archive
from .builtin import (BUILTIN, DataSettings, DataUnavailableError, Splits, data_root, load_archive_splits,
                      load_dataset, load_splits)
from .tensors import BatchSpec, Batches, TensorData, per_class_subset, random_crop_flip, split_holdout, to_input

__all__ = ["ArchiveLimits", "BUILTIN", "BatchSpec", "Batches", "DataSettings", "DataUnavailableError",
           "ImageFolderData", "Splits", "TensorData", "data_root", "load_archive_splits", "load_dataset",
           "load_image_folder_archive", "load_splits", "per_class_subset", "random_crop_flip", "split_holdout",
           "to_input"]
