//! The emulator's RTMP input (handshake, chunk stream, commands, media) on arbitrary bytes: an
//! error closes the connection, nothing panics, and the budget before a publish holds. The input
//! format is `rtmp::check`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // `rml_rtmp` panics on some malformed input (an arithmetic overflow, a slice out of
        // range), and the emulator catches that and closes the connection (`rtmp::guarded`): a
        // panic raised inside `rml_rtmp` under that guard is handled. Any other still aborts, as
        // libFuzzer's hook makes every panic do, so the fuzzer reports it.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let stack = std::backtrace::Backtrace::force_capture().to_string();
            if stack.contains("rml_rtmp") && stack.contains("guarded") {
                return;
            }
            abort(info);
        }));
    },
    |data: &[u8]| streamspec_fuzz::rtmp::check(data)
);
