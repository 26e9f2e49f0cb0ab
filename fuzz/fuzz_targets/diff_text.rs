//! Fuzzes the diff engine's text format: two related inputs shaped as text, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Text, data);
});
