//! Helpers shared by the runnable examples in this folder.
