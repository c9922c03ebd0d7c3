"""Data: built-in data sets (fetched and SHA-256-verified), file loaders, seeded splits."""

from edgenets.data.cache import BUILTINS, cache_info, dataset_dir, fetch, get_builtin, home
from edgenets.data.dataset import Dataset, check_trainable
from edgenets.data.idx import parse_idx, read_idx, to_idx_bytes
from edgenets.data.loaders import load_csv, load_dataset, load_image_folder, load_npz, save_csv
from edgenets.data.options import LoadOptions, parse_shape, parse_size
from edgenets.data.split import stratified_indices, train_val_split

__all__ = [
    "BUILTINS", "Dataset", "LoadOptions", "cache_info", "check_trainable", "dataset_dir", "fetch", "get_builtin",
    "home", "load_csv", "load_dataset", "load_image_folder", "load_npz", "parse_idx", "parse_shape", "parse_size",
    "read_idx", "save_csv", "stratified_indices", "to_idx_bytes", "train_val_split",
]
