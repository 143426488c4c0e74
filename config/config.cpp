// placeholder: filled in by the core issue
