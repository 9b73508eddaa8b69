//! The on-disk format: the segment header and the frame that wraps each entry.
//!
//! A segment is `SEGMENT_HEADER` followed by frames. A frame is
//! `len: u32 LE | crc32: u32 LE | seq: u64 LE | payload[len]`, where the checksum covers the seq bytes and the
//! payload, so a frame that decodes is one that was written whole.

/// Magic and format version at the start of every segment file.
pub(crate) const SEGMENT_HEADER: [u8; 8] = *b"FRWAL\0\0\x01";

/// Bytes a frame adds in front of its payload.
pub(crate) const FRAME_OVERHEAD: usize = 16;

/// Why the bytes at some offset are not a whole, valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    SegmentHeader,
    PartialHeader,
    Length,
    Checksum,
    Sequence,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Damage::SegmentHeader => "bad segment header",
            Damage::PartialHeader => "partial frame header",
            Damage::Length => "frame length runs past the end of the file",
            Damage::Checksum => "checksum mismatch",
            Damage::Sequence => "sequence number out of order",
        })
    }
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame of one entry to `out`. The caller has checked that the payload fits in a `u32` length.
pub(crate) fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(u32::try_from(payload.len()).is_ok());
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes the frame at the start of `buf`: its seq, its payload and the bytes it occupies.
pub(crate) fn decode(buf: &[u8]) -> Result<(u64, &[u8], usize), Damage> {
    let Some(h) = buf.first_chunk::<FRAME_OVERHEAD>() else {
        return Err(Damage::PartialHeader);
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let seq = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| FRAME_OVERHEAD.checked_add(len))
        .filter(|&end| end <= buf.len())
        .ok_or(Damage::Length)?;
    // In bounds: FRAME_OVERHEAD <= end <= buf.len(), checked just above.
    let payload = &buf[FRAME_OVERHEAD..end];
    if checksum(seq, payload) != crc {
        return Err(Damage::Checksum);
    }
    Ok((seq, payload, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn frames_round_trip(entries in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20)) {
            let mut buf = Vec::new();
            for (seq, payload) in &entries {
                encode(*seq, payload, &mut buf);
            }
            let mut rest = &buf[..];
            for (seq, payload) in &entries {
                let (got_seq, got_payload, used) = decode(rest).unwrap();
                prop_assert_eq!(got_seq, *seq);
                prop_assert_eq!(got_payload, &payload[..]);
                prop_assert_eq!(used, FRAME_OVERHEAD + payload.len());
                rest = &rest[used..];
            }
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn a_damaged_frame_never_decodes(seq in any::<u64>(), payload in prop::collection::vec(any::<u8>(), 0..300), pick in any::<prop::sample::Index>(), bit in 0..8u8) {
            let mut buf = Vec::new();
            encode(seq, &payload, &mut buf);
            let cut = pick.index(buf.len());
            prop_assert!(decode(&buf[..cut]).is_err());
            buf[cut] ^= 1 << bit;
            prop_assert!(decode(&buf).is_err());
        }
    }

    #[test]
    fn decode_reports_why() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        assert_eq!(decode(&buf[..10]), Err(Damage::PartialHeader));
        assert_eq!(decode(&buf[..20]), Err(Damage::Length));
        let mut flipped = buf.clone();
        flipped[18] ^= 0xff;
        assert_eq!(decode(&flipped), Err(Damage::Checksum));
        assert_eq!(decode(&buf), Ok((7, &b"hello"[..], 21)));
    }
}
