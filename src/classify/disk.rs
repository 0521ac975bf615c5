//! The image against the node's image filesystem: `insufficient_disk` when even the compressed
//! layers do not fit in the free space, a warning when the content plus an unpacked estimate
//! would cross the kubelet's image GC high threshold. Pure: the caller measures.

use super::{Diagnosis, Verdict};
use crate::human::bytes as human_bytes;

/// The kubelet's default `imageGCHighThresholdPercent`.
pub const GC_HIGH_THRESHOLD_PERCENT: u64 = 85;
/// Unpacked size per compressed byte, for the estimate (gzip'd layers of typical images unpack
/// to 2–4× their size).
pub const UNPACK_FACTOR: u64 = 3;

/// What the node's image filesystem says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Free bytes (statvfs `f_bavail`).
    pub available: u64,
    /// Filesystem size.
    pub capacity: u64,
}

/// The judgement: a verdict that overrides `ok`, or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The image fits.
    Fits,
    /// The image fits, but a pull would push the filesystem past the GC threshold.
    Warn(String),
    /// Not even the compressed layers fit.
    Insufficient(Diagnosis),
}

/// Judges an image of `compressed` bytes (config + layers, as the manifest declares them).
/// An image already on the node needs no space.
pub fn judge(compressed: u64, space: Space, already_present: bool, mountpoint: &str) -> Judgement {
    if already_present || space.capacity == 0 {
        return Judgement::Fits;
    }
    if compressed > space.available {
        let why = format!(
            "the image's compressed layers are {} but the image filesystem {mountpoint} has {} free: the download cannot complete (\"no space left on device\")",
            human_bytes(compressed),
            human_bytes(space.available)
        );
        return Judgement::Insufficient(Diagnosis::new(Verdict::InsufficientDisk, why));
    }
    let used = space.capacity.saturating_sub(space.available);
    let unpacked = compressed.saturating_mul(UNPACK_FACTOR);
    let after = used.saturating_add(compressed).saturating_add(unpacked);
    // Percent without overflow: after / capacity * 100, in u128.
    let percent = (u128::from(after) * 100 / u128::from(space.capacity)) as u64;
    if percent > GC_HIGH_THRESHOLD_PERCENT {
        return Judgement::Warn(format!(
            "pulling this image ({} compressed, about {} unpacked by estimate) would bring {mountpoint} to about {percent} % used, past the kubelet's image GC high threshold ({GC_HIGH_THRESHOLD_PERCENT} % by default): the kubelet will start removing unused images, and evict pods if it cannot free enough",
            human_bytes(compressed),
            human_bytes(unpacked)
        ));
    }
    Judgement::Fits
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn too_big_fits_and_warns() {
        let space = Space {
            available: 8 * MIB,
            capacity: 16 * MIB,
        };
        match judge(24 * MIB, space, false, "/var/lib/containerd") {
            Judgement::Insufficient(d) => {
                assert_eq!(d.verdict, Verdict::InsufficientDisk);
                assert!(d.reason.contains("8.0 MiB free"), "{}", d.reason);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(judge(24 * MIB, space, true, "/x"), Judgement::Fits);
        assert!(
            matches!(judge(2 * MIB, space, false, "/x"), Judgement::Warn(w) if w.contains("GC high threshold"))
        );
        let roomy = Space {
            available: 900 * MIB,
            capacity: 1000 * MIB,
        };
        assert_eq!(judge(MIB, roomy, false, "/x"), Judgement::Fits);
        // Absurd numbers saturate instead of overflowing.
        let full = Space {
            available: u64::MAX,
            capacity: u64::MAX,
        };
        assert!(matches!(
            judge(u64::MAX, full, false, "/x"),
            Judgement::Warn(_)
        ));
        assert_eq!(
            judge(
                5,
                Space {
                    available: 0,
                    capacity: 0
                },
                false,
                "/x"
            ),
            Judgement::Fits
        );
    }
}
