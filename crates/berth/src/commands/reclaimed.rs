//! The containers as every container command starts from them: after reclaiming what killed
//! berth processes left (`berth_engine::reclaim::reclaimed`). Below the commands that use it
//! (`containers`, `network`).

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
    berth_engine::reclaim::reclaimed(&ctx.roots)
}
