//! Fuzzes the diff engine's zip format: two related inputs shaped as zip, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Zip, data);
});
