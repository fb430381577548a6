#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eid_fuzz::registration_metadata(data));
