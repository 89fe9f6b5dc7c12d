//! scrypt (RFC 7914) for the parameters the `scrypt` crate refuses. That crate enforces RFC 7914's
//! `N < 2^(128·r/8)`, which rules out `n = 2^18, r = 1` — the parameters of the Web3 Secret
//! Storage test vector and of keystores some wallets wrote. geth and eth-account accept them, so
//! custos must too. Used only when the crate refuses; tested against the crate where both apply.

use zeroize::Zeroize;

use crate::pbkdf2::pbkdf2_hmac_sha256;

/// Salsa20/8 core on 16 words, in place (RFC 7914 section 3).
fn salsa20_8(b: &mut [u32; 16]) {
    let mut x = *b;
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
        x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
        x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
        x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
    }
    for _ in 0..4 {
        // columns
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 5, 9, 13, 1);
        qr(&mut x, 10, 14, 2, 6);
        qr(&mut x, 15, 3, 7, 11);
        // rows
        qr(&mut x, 0, 1, 2, 3);
        qr(&mut x, 5, 6, 7, 4);
        qr(&mut x, 10, 11, 8, 9);
        qr(&mut x, 15, 12, 13, 14);
    }
    for (o, i) in b.iter_mut().zip(x.iter()) {
        *o = o.wrapping_add(*i);
    }
    x.zeroize();
}

/// scryptBlockMix on `2r` 16-word blocks; `out` gets Y0, Y2, …, Y1, Y3, ….
fn block_mix(input: &[u32], out: &mut [u32], r: usize) {
    let mut x = [0u32; 16];
    x.copy_from_slice(&input[(2 * r - 1) * 16..2 * r * 16]);
    for i in 0..2 * r {
        for (xw, bw) in x.iter_mut().zip(&input[i * 16..(i + 1) * 16]) {
            *xw ^= bw;
        }
        salsa20_8(&mut x);
        let dst = if i % 2 == 0 { i / 2 } else { r + i / 2 };
        out[dst * 16..(dst + 1) * 16].copy_from_slice(&x);
    }
    x.zeroize();
}

/// scryptROMix on one 128·r-byte block (as words), in place.
fn ro_mix(b: &mut [u32], n: usize, r: usize) {
    let words = 32 * r;
    let mut v = vec![0u32; n * words];
    let mut x = b.to_vec();
    let mut t = vec![0u32; words];
    for i in 0..n {
        v[i * words..(i + 1) * words].copy_from_slice(&x);
        block_mix(&x, &mut t, r);
        std::mem::swap(&mut x, &mut t);
    }
    for _ in 0..n {
        let j = (x[(2 * r - 1) * 16] as usize) & (n - 1);
        for (xw, vw) in x.iter_mut().zip(&v[j * words..(j + 1) * words]) {
            *xw ^= vw;
        }
        block_mix(&x, &mut t, r);
        std::mem::swap(&mut x, &mut t);
    }
    b.copy_from_slice(&x);
    v.zeroize();
    x.zeroize();
    t.zeroize();
}

/// scrypt(password, salt, n = 2^log_n, r, p) into `out`. The caller bounds the memory
/// (128 · r · n bytes).
pub(crate) fn scrypt(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) {
    let (n, r, p) = (1usize << log_n, r as usize, p as usize);
    let mut b = vec![0u8; p * 128 * r];
    pbkdf2_hmac_sha256(password, salt, 1, &mut b);
    let mut words = vec![0u32; 32 * r];
    for chunk in b.chunks_mut(128 * r) {
        for (w, c) in words.iter_mut().zip(chunk.chunks(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        ro_mix(&mut words, n, r);
        for (w, c) in words.iter().zip(chunk.chunks_mut(4)) {
            c.copy_from_slice(&w.to_le_bytes());
        }
    }
    pbkdf2_hmac_sha256(password, &b, 1, out);
    b.zeroize();
    words.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the `scrypt` crate (an implementation we did not write) where it accepts the
    /// parameters, including RFC 7914's `("password", "NaCl", N = 1024, r = 8)` (with p = 2 to
    /// keep the debug build quick).
    #[test]
    fn equals_the_scrypt_crate_where_both_apply() {
        for (pw, salt, log_n, r, p) in [
            (&b""[..], &b""[..], 4u8, 1u32, 1u32),
            (b"password", b"NaCl", 10, 8, 2),
            (b"testpassword", b"salt", 8, 2, 3),
        ] {
            let mut ours = [0u8; 64];
            scrypt(pw, salt, log_n, r, p, &mut ours);
            let mut theirs = [0u8; 64];
            let params = ::scrypt::Params::new(log_n, r, p, 64).unwrap();
            ::scrypt::scrypt(pw, salt, &params, &mut theirs).unwrap();
            assert_eq!(ours, theirs, "log_n {log_n} r {r} p {p}");
        }
    }

    /// RFC 7914 section 12, first vector: scrypt("", "", 16, 1, 1, 64).
    #[test]
    fn matches_rfc7914_first_vector() {
        let mut out = [0u8; 64];
        scrypt(b"", b"", 4, 1, 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
        );
    }
}
