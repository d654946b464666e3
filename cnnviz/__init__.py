"""cnnviz: a CNN lab as a Streamlit dashboard.

The package is the backend: it returns arrays, dicts and Plotly figures and never calls
``st.*`` (the Streamlit glue is the package :mod:`cnnviz.app`). Importing it must stay cheap:
TensorFlow and Keras are imported inside the functions that need them.
"""

__version__ = "0.1.0"
