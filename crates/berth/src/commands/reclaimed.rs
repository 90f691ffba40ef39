//! The containers as every container command starts from them: after reclaiming what killed
//! berth processes left. Below the commands that use it (`containers`, `network`).

use super::Context;
use berth_engine::containers::Containers;
use berth_engine::record::Record;

/// The containers, after reclaiming what killed berth processes left.
pub(super) fn containers(ctx: &Context) -> Containers {
    reclaimed(ctx).0
}

/// The containers, after reclaiming what killed berth processes left, and their records as
/// the reclaim read them (a second reading of every record saved).
pub(super) fn reclaimed(ctx: &Context) -> (Containers, Vec<Record>) {
    let containers = Containers::new(&ctx.roots.root);
    let records = match berth_runtime::cgroups::detect() {
        Ok(layout) => containers.reclaim(&ctx.roots.run_root, &layout),
        Err(_) => containers.list(),
    };
    // Attach sockets whose relay is gone (a killed relay cannot remove its own).
    if let Ok(entries) = std::fs::read_dir(&ctx.roots.run_root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".attach")
                && !containers.get(id).is_ok_and(|r| r.is_running())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    (containers, records)
}
