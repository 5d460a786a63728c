"""The API's routes, one module per resource: datasets (and their health), runs, tables."""
