//! Media placeholder.
