//! Fuzzes the diff engine's gzip format: two related inputs shaped as gzip, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Gzip, data);
});
