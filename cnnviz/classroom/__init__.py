"""Who is who in a classroom, and who may do what (no Streamlit here).

``people`` (the :class:`Person` every backend call is made for, the teacher checks and whether this
server is a classroom), ``policy`` (who may see and change a run, job or dataset), ``roster``
(students without accounts: a display name and a private key) and ``settings`` (what the teacher
shares with the class). ``db`` opens ``CNNVIZ_HOME/class.sqlite3``, which the last three share.
"""
