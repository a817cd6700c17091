//! Detach keys (`Ctrl-P Ctrl-Q`, `--detach-keys`, `detachKeys`): the
//! sequence a client types to leave an attached TTY session (an attach or
//! an exec) without ending the process.

/// Watches the client's input for the detach sequence (dockerd's
/// `copyEscapable`): bytes that may start it are held back until it is
/// complete (detach) or broken (they are passed on).
#[derive(Debug)]
pub(crate) struct Escape {
    keys: Vec<u8>,
    matched: usize,
}

impl Escape {
    /// A watcher for the sequence `keys` (not empty).
    pub(crate) fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// The bytes to forward from `input`, and whether the sequence completed.
    pub(crate) fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if self.keys.first() == Some(&b) {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_held_back_until_broken_or_complete() {
        let mut e = Escape::new(vec![16, 17]);
        assert_eq!(e.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(e.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(e.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(e.feed(b"\x11rest"), (vec![], true));
    }
}
