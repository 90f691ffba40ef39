//! Links the berth binary with its hot functions side by side when `BERTH_SYMBOL_ORDER` names
//! a symbol ordering file (scripts/build writes one from scripts/hot-functions.txt). The
//! functions that `run` and `berth-runc run` execute then sit on a few pages instead of being
//! spread over the whole binary: every page the kernel maps for them counts in a process's
//! memory, and each is a page fault. lld only.

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_SYMBOL_ORDER");
    let Some(order) = std::env::var_os("BERTH_SYMBOL_ORDER").filter(|o| !o.is_empty()) else {
        return;
    };
    let order = std::path::PathBuf::from(order);
    println!("cargo:rerun-if-changed={}", order.display());
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
