//! Doctor's vocabulary, low enough that every kind can report what it finds.
