//! Byte formats of Kafka's `.index` and `.timeindex` files.
//!
//! - `.index`: 8-byte entries, (offset − segment base) as u32 BE, then the
//!   byte position of the batch in the `.log` as u32 BE.
//! - `.timeindex`: 12-byte entries, timestamp as i64 BE, then
//!   (offset − segment base) as u32 BE.
//!
//! Kafka preallocates the active segment's index files and trims them on
//! roll or close; Weir only ever appends, so a closed file has exactly the
//! bytes Kafka would leave.

/// Bytes per `.index` entry.
pub const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes per `.timeindex` entry.
pub const TIME_ENTRY_SIZE: usize = 12;

/// One `.index` entry with its offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Absolute offset (a batch's last offset when Weir or Kafka writes it).
    pub offset: i64,
    /// Byte position of that batch in the segment's `.log`.
    pub position: u32,
}

/// One `.timeindex` entry with its offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest timestamp seen up to this point in the segment.
    pub timestamp: i64,
    /// Absolute offset of the record (batch) holding it.
    pub offset: i64,
}

impl OffsetEntry {
    /// Encode relative to the segment's base offset.
    pub fn encode(&self, base_offset: i64) -> [u8; OFFSET_ENTRY_SIZE] {
        let mut b = [0u8; OFFSET_ENTRY_SIZE];
        b[..4].copy_from_slice(&relative(self.offset, base_offset).to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }
}

impl TimeEntry {
    /// Encode relative to the segment's base offset.
    pub fn encode(&self, base_offset: i64) -> [u8; TIME_ENTRY_SIZE] {
        let mut b = [0u8; TIME_ENTRY_SIZE];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&relative(self.offset, base_offset).to_be_bytes());
        b
    }
}

/// Offsets in a segment are within `u32` of its base (Kafka rolls before
/// they would not be), so this cannot truncate for a valid segment.
fn relative(offset: i64, base_offset: i64) -> u32 {
    let rel = offset - base_offset;
    debug_assert!((0..=i64::from(u32::MAX)).contains(&rel));
    rel as u32
}

/// Decode the whole entries of an `.index` file; a trailing partial entry
/// is ignored (the caller decides whether that means corruption).
pub fn decode_offset_entries(base_offset: i64, bytes: &[u8]) -> Vec<OffsetEntry> {
    bytes
        .chunks_exact(OFFSET_ENTRY_SIZE)
        .map(|c| OffsetEntry {
            offset: base_offset + i64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            position: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// Decode the whole entries of a `.timeindex` file.
pub fn decode_time_entries(base_offset: i64, bytes: &[u8]) -> Vec<TimeEntry> {
    bytes
        .chunks_exact(TIME_ENTRY_SIZE)
        .map(|c| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&c[..8]);
            TimeEntry {
                timestamp: i64::from_be_bytes(ts),
                offset: base_offset + i64::from(u32::from_be_bytes([c[8], c[9], c[10], c[11]])),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let o = OffsetEntry {
            offset: 1_099,
            position: 7_921,
        };
        assert_eq!(decode_offset_entries(667, &o.encode(667)), vec![o]);
        let t = TimeEntry {
            timestamp: 1_700_000_000_199,
            offset: 699,
        };
        assert_eq!(decode_time_entries(667, &t.encode(667)), vec![t]);
        assert_eq!(o.encode(667), [0, 0, 1, 176, 0, 0, 0x1e, 0xf1]);
    }
}
