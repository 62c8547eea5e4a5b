//! Following one direction of a WebSocket's byte stream frame by frame (RFC 6455 §5.2)
//! without keeping any of it: each frame's header (at most 14 bytes) is read for its opcode
//! and payload length, and the payload is skipped. Enough to see a Close frame go by.

/// The opcode of a Close frame.
const CLOSE: u8 = 0x8;

/// Where a stream is in its framing.
#[derive(Debug, Default)]
pub(super) struct Frames {
    /// The current frame's header bytes seen so far.
    head: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: u64,
}

impl Frames {
    /// Follows `bytes`, the next ones of the stream; whether a Close frame's header was in them.
    pub(super) fn sees_close(&mut self, mut bytes: &[u8]) -> bool {
        let mut close = false;
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.skip > 0 {
                let n =
                    usize::try_from(self.skip).map_or(bytes.len(), |skip| skip.min(bytes.len()));
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.head[self.have] = byte;
            self.have += 1;
            bytes = rest;
            if header_len(&self.head[..self.have]) == Some(self.have) {
                close |= self.head[0] & 0x0F == CLOSE;
                self.skip = payload_len(&self.head[..self.have]);
                self.have = 0;
            }
        }
        close
    }
}

/// A header's whole length, once its first two bytes say it: 2, the extended length (0, 2
/// or 8 bytes), the mask (4 bytes when set).
fn header_len(head: &[u8]) -> Option<usize> {
    let second = *head.get(1)?;
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    Some(2 + extended + mask)
}

/// The payload length a whole header announces.
fn payload_len(head: &[u8]) -> u64 {
    match head[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([head[2], head[3]])),
        127 => head[2..10]
            .iter()
            .fold(0u64, |len, &byte| (len << 8) | u64::from(byte)),
        len => u64::from(len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a client sends it (masked) or a server does (not).
    fn frame(opcode: u8, payload_len: usize, masked: bool) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload_len {
            0..=125 => out.push(mask_bit | payload_len as u8),
            126..=65535 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(payload_len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(payload_len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        // A payload full of bytes that would read as a Close header if it were one.
        out.extend(std::iter::repeat_n(0x88, payload_len));
        out
    }

    #[test]
    fn a_close_frame_is_seen_after_frames_of_every_length_in_any_split() {
        let mut stream = Vec::new();
        for (len, masked) in [(5, true), (300, false), (70_000, true), (0, false)] {
            stream.extend(frame(0x1, len, masked));
        }
        // The Close frame's header ends with its mask, 6 bytes in.
        let close_header_end = stream.len() + 5;
        stream.extend(frame(CLOSE, 2, true));
        for chunk in [1, 3, 7, 1000, stream.len()] {
            let mut frames = Frames::default();
            let seen: Vec<usize> = stream
                .chunks(chunk)
                .enumerate()
                .filter_map(|(i, piece)| frames.sees_close(piece).then_some(i))
                .collect();
            assert_eq!(
                seen,
                [close_header_end / chunk],
                "seen once, where the Close header ends (chunks of {chunk})"
            );
        }
    }

    #[test]
    fn payloads_that_look_like_close_frames_are_not_mistaken_for_one() {
        let mut frames = Frames::default();
        assert!(!frames.sees_close(&frame(0x2, 200, false)));
        assert!(
            !frames.sees_close(&frame(0x9, 4, true)),
            "a ping is not a close"
        );
        assert!(frames.sees_close(&frame(CLOSE, 0, false)));
    }
}
