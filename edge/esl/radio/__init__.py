"""The radio: the backend chosen once from config, one operation per label at a time, and the label inventory it reports."""
