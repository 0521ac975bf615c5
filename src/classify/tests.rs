#[test] fn placeholder_removed_below() {}
