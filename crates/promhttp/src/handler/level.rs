//! Compression levels as checked values: a level the compressor would not accept
//! cannot be built, so none is ever clamped behind the caller's back.

use std::fmt;
use std::ops::RangeInclusive;

use crate::negotiate::Encoding;

/// A gzip compression level, `0` (stored, no compression) to `9` (smallest body,
/// most CPU).
///
/// ```
/// use promhttp::{GzipLevel, MetricsHandler};
/// use promhttp::prometheus::Registry;
///
/// let level = GzipLevel::new(6)?;
/// let handler = MetricsHandler::builder(Registry::new()).gzip_level(level).build();
/// # let _ = handler;
/// assert!(GzipLevel::new(10).is_err());
/// # Ok::<(), promhttp::LevelError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GzipLevel(u32);

impl GzipLevel {
    /// The lowest level, `0`: the body is stored in gzip framing, uncompressed.
    pub const MIN: GzipLevel = GzipLevel(0);
    /// The highest level, `9`.
    pub const MAX: GzipLevel = GzipLevel(9);
    /// The handler's default, `1`: on exposition text, level 1 costs a fraction of
    /// level 6's CPU for a body only slightly larger.
    pub const DEFAULT: GzipLevel = GzipLevel(1);

    /// The level `level`, or [`LevelError::Gzip`] when it is outside `0..=9`.
    pub const fn new(level: u32) -> Result<GzipLevel, LevelError> {
        if level <= Self::MAX.0 {
            Ok(GzipLevel(level))
        } else {
            Err(LevelError::Gzip {
                level,
                range: Self::MIN.0..=Self::MAX.0,
            })
        }
    }

    /// The level as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for GzipLevel {
    /// [`GzipLevel::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for GzipLevel {
    type Error = LevelError;

    fn try_from(level: u32) -> Result<Self, LevelError> {
        Self::new(level)
    }
}

/// A zstd compression level: what the zstd library accepts, `-131072` to `22`.
///
/// Positive levels trade CPU for size as usual (`19` and up are zstd's "ultra"
/// levels and need much more memory); `0` asks for zstd's own default level (`3`);
/// negative levels are zstd's fast levels, cheaper and larger than `1`.
///
/// ```
/// use promhttp::{MetricsHandler, ZstdLevel};
/// use promhttp::prometheus::Registry;
///
/// let level = ZstdLevel::new(3)?;
/// let handler = MetricsHandler::builder(Registry::new()).zstd_level(level).build();
/// # let _ = handler;
/// assert!(ZstdLevel::new(23).is_err());
/// # Ok::<(), promhttp::LevelError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZstdLevel(i32);

impl ZstdLevel {
    /// The lowest level zstd accepts, `-131072` (`ZSTD_minCLevel()`).
    pub const MIN: ZstdLevel = ZstdLevel(-(1 << 17));
    /// The highest level zstd accepts, `22` (`ZSTD_maxCLevel()`).
    pub const MAX: ZstdLevel = ZstdLevel(22);
    /// The handler's default, `1`.
    pub const DEFAULT: ZstdLevel = ZstdLevel(1);

    /// The level `level`, or [`LevelError::Zstd`] when zstd would not accept it
    /// (outside `-131072..=22`).
    pub const fn new(level: i32) -> Result<ZstdLevel, LevelError> {
        if level >= Self::MIN.0 && level <= Self::MAX.0 {
            Ok(ZstdLevel(level))
        } else {
            Err(LevelError::Zstd {
                level,
                range: Self::MIN.0..=Self::MAX.0,
            })
        }
    }

    /// The level as a number.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl Default for ZstdLevel {
    /// [`ZstdLevel::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i32> for ZstdLevel {
    type Error = LevelError;

    fn try_from(level: i32) -> Result<Self, LevelError> {
        Self::new(level)
    }
}

/// A compression level the coding does not accept, from [`GzipLevel::new`] or
/// [`ZstdLevel::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LevelError {
    /// A gzip level outside `range` (`0..=9`).
    Gzip {
        /// The level asked for.
        level: u32,
        /// The levels gzip accepts.
        range: RangeInclusive<u32>,
    },
    /// A zstd level outside `range` (`-131072..=22`).
    Zstd {
        /// The level asked for.
        level: i32,
        /// The levels zstd accepts.
        range: RangeInclusive<i32>,
    },
}

impl LevelError {
    /// The coding whose level was refused.
    pub fn coding(&self) -> Encoding {
        match self {
            LevelError::Gzip { .. } => Encoding::Gzip,
            LevelError::Zstd { .. } => Encoding::Zstd,
        }
    }
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LevelError::Gzip { level, range } => write!(
                f,
                "gzip level {level} is outside {}..={}",
                range.start(),
                range.end()
            ),
            LevelError::Zstd { level, range } => write!(
                f,
                "zstd level {level} is outside {}..={}",
                range.start(),
                range.end()
            ),
        }
    }
}

impl std::error::Error for LevelError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_levels_outside_0_to_9_are_refused_with_the_range() {
        for n in 0..=9 {
            assert_eq!(GzipLevel::new(n).map(GzipLevel::get), Ok(n));
        }
        for n in [10, 11, u32::MAX] {
            let e = GzipLevel::new(n).unwrap_err();
            assert_eq!(
                e,
                LevelError::Gzip {
                    level: n,
                    range: 0..=9
                }
            );
            assert_eq!(e.coding(), Encoding::Gzip);
        }
        assert_eq!(
            GzipLevel::try_from(10).unwrap_err().to_string(),
            "gzip level 10 is outside 0..=9"
        );
        assert_eq!(GzipLevel::default().get(), 1);
    }

    #[test]
    fn zstd_levels_outside_what_zstd_accepts_are_refused_with_the_range() {
        for n in [-131072, -5, 0, 1, 3, 19, 22] {
            assert_eq!(ZstdLevel::new(n).map(ZstdLevel::get), Ok(n));
        }
        for n in [23, i32::MAX, -131073, i32::MIN] {
            let e = ZstdLevel::new(n).unwrap_err();
            assert_eq!(
                e,
                LevelError::Zstd {
                    level: n,
                    range: -131072..=22
                }
            );
            assert_eq!(e.coding(), Encoding::Zstd);
        }
        assert_eq!(
            ZstdLevel::try_from(23).unwrap_err().to_string(),
            "zstd level 23 is outside -131072..=22"
        );
        assert_eq!(ZstdLevel::default().get(), 1);
    }

    /// The bounds are written out (the type exists without the `zstd` feature);
    /// they must be the library's own.
    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_bounds_are_the_zstd_librarys() {
        assert_eq!(
            zstd::compression_level_range(),
            ZstdLevel::MIN.get()..=ZstdLevel::MAX.get()
        );
    }
}
