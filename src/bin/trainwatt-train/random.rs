//! The seeded randomness of a run: libtorch's process-wide generator, drawn
//! from under a lock, and a small generator of our own for shuffles and
//! augmentation.
/// libtorch has one process-wide random generator. Seeding it and drawing from
/// it happen under this lock, so a seed gives the same data and weights even
/// when several trainers (or tests) run at once. Everything random after that
/// (shuffling, augmentation) uses [`Rng`], one per run.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `f` with libtorch's generator seeded with `seed` and nobody else drawing.
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed as i64);
    f()
}

/// A small seeded generator (splitmix64) for shuffling and augmentation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `0..n` in random order (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = Rng::new(7).permutation(100);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, Rng::new(7).permutation(100));
        assert_ne!(a, Rng::new(8).permutation(100));
    }
}
