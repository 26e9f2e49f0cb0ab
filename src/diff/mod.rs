//! The diff engine: compares files, directories and archives and classifies differences.
