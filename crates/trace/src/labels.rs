//! (written in a later commit)
