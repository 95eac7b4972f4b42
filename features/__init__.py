"""Text normalisation, jieba segmentation and TF-IDF features; depends only on the data layer."""
