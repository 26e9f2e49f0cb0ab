//! Fuzzes the manifest reader: any text gives a manifest or an error, and a manifest
//! read once prints and reads back.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    if let Ok(manifest) = reprobe::model::manifest::Manifest::from_json(path, text) {
        let again = reprobe::model::manifest::Manifest::from_json(path, &manifest.to_json());
        assert!(again.is_ok(), "a manifest did not read back: {again:?}");
    }
});
