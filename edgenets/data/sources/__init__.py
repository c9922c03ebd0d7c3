"""One module per source format; each turns its files into a :class:`edgenets.data.Dataset`.

``idx_files`` (the original MNIST distribution), ``csv_files`` (Kaggle-style pixel rows),
``npz_files`` (keras layout) and ``image_folders`` (class sub-folders of image files).
:func:`edgenets.data.loaders.load_dataset` picks the source from the path.
"""
