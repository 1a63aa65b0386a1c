#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| flow::fuzzing::parse_packet_target(data));
