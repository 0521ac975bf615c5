//! The runtime-message classifier (kubelet events, `crictl pull` errors, CRI status messages):
//! no panic in `explain`, `explain_status` or the text rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullcheck::classify::runtime_message;

fuzz_target!(|message: &str| {
    let d = runtime_message::explain(message);
    let _ = runtime_message::render_text(&d);
    for code in [
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
    ] {
        let d = runtime_message::explain_status(code, message);
        let _ = runtime_message::render_text(&d);
    }
});
