"""Data: built-in data sets, user archives and class-builder sets as uint8 tensors, and a batch loader."""
from .archive import ArchiveLimits, ImageFolderData, load_image_folder_archive
from .builtin import (BUILTIN, DATASETS, OFFLINE, DataSettings, DataUnavailableError, Splits, data_root,
                      is_local, load_archive_splits, load_dataset, load_splits)
from .classset import AddResult, ClassSet, ClassSetLimits, Picture, check_class_names
from .shapes import NAME as SHAPES
from .tensors import BatchSpec, Batches, TensorData, per_class_subset, random_crop_flip, split_holdout, to_input

__all__ = ["AddResult", "ArchiveLimits", "BUILTIN", "BatchSpec", "Batches", "ClassSet", "ClassSetLimits", "DATASETS",
           "DataSettings", "DataUnavailableError", "ImageFolderData", "OFFLINE", "Picture", "SHAPES", "Splits",
           "TensorData", "check_class_names", "data_root", "is_local", "load_archive_splits", "load_dataset",
           "load_image_folder_archive", "load_splits", "per_class_subset", "random_crop_flip", "split_holdout",
           "to_input"]
