//! A minimal PNG writer: 8-bit RGB, no filtering, one zlib stream compressed with fixed
//! Huffman codes and pixel-repeat matches only. Charts are mostly flat colour, so that is
//! enough to keep them to a few kilobytes without a compression library.

/// Encodes `rgb` (`width * height * 3` bytes, rows top to bottom) as a PNG file.
pub(crate) fn encode(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(
        rgb.len(),
        width as usize * height as usize * 3,
        "pixel count"
    );
    let mut raw = Vec::with_capacity(rgb.len() + height as usize);
    for row in rgb.chunks(width as usize * 3) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }

    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, truecolour, deflate, none, no interlace

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE, reflected), as PNG chunks use.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Adler-32, the zlib checksum.
pub(crate) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// Writes bits least significant first, as deflate wants.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    len: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= value << self.len;
        self.len += count;
        while self.len >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.len -= 8;
        }
    }

    /// A Huffman code: sent most significant bit first.
    fn code(&mut self, code: u32, count: u32) {
        let reversed = code.reverse_bits() >> (32 - count);
        self.put(reversed, count);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.len > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

const LENGTH_BASE: [u32; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// The fixed Huffman code of literal/length symbol `symbol`.
fn literal(bits: &mut Bits, symbol: u32) {
    match symbol {
        0..=143 => bits.code(0x30 + symbol, 8),
        144..=255 => bits.code(0x190 + symbol - 144, 9),
        256..=279 => bits.code(symbol - 256, 7),
        _ => bits.code(0xC0 + symbol - 280, 8),
    }
}

/// The distance of every match: one RGB pixel back.
const DISTANCE: usize = 3;

/// A zlib stream of `data`: one fixed-Huffman block whose only matches repeat the previous
/// pixel.
pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(1, 1); // last block
    bits.put(1, 2); // fixed Huffman codes
    let mut i = 0;
    while i < data.len() {
        let run = if i >= DISTANCE {
            data[i..]
                .iter()
                .zip(&data[i - DISTANCE..])
                .take(258)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            0
        };
        if run < 3 {
            literal(&mut bits, u32::from(data[i]));
            i += 1;
            continue;
        }
        // Each length code covers base..base + 2^extra, so any run up to 258 fits one code.
        let length = run.min(258) as u32;
        let index = LENGTH_BASE
            .iter()
            .rposition(|&base| base <= length)
            .unwrap_or(0);
        literal(&mut bits, 257 + index as u32);
        bits.put(length - LENGTH_BASE[index], LENGTH_EXTRA[index]);
        bits.code(DISTANCE as u32 - 1, 5); // distance code 2 = distance 3, no extra bits
        i += length as usize;
    }
    literal(&mut bits, 256); // end of block

    let mut out = vec![0x78, 0x01];
    out.extend(bits.finish());
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_published_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn a_single_literal_is_bit_exact() {
        // Known output of zlib for "a" with fixed codes: 4b 04 00, then Adler-32.
        assert_eq!(
            zlib(b"a"),
            vec![0x78, 0x01, 0x4b, 0x04, 0x00, 0x00, 0x62, 0x00, 0x62]
        );
    }

    #[test]
    fn flat_colour_compresses_to_a_fraction() {
        let pixels = vec![0xEEu8; 200 * 100 * 3];
        let png = encode(200, 100, &pixels);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.len() < pixels.len() / 20, "{} bytes", png.len());
    }
}
