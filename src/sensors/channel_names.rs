//! Channel names a source generates (`gpu_load`, `module_rails_sum`,
//! `gpu0_util`) beside the names the hardware or the log gives (rail names,
//! GPU index values). A generated name never takes a given name: it gets the
//! first free `_2`, `_3`, ... suffix, deterministically, and the rename is
//! returned so the caller can say so.
use std::collections::HashSet;

use crate::model::sample::Channel;

/// Make every channel name unique. The first `given` channels carry names
/// from the input and keep them (they must already be unique among
/// themselves; a repeat among them is renamed too, the later one); every
/// later channel is generated and is renamed when its name is taken.
/// Returns `(old, new)` for each rename, in channel order.
pub fn make_unique(channels: &mut [Channel], given: usize) -> Vec<(String, String)> {
    let mut taken: HashSet<String> = channels
        .iter()
        .take(given)
        .map(|c| c.name.clone())
        .collect();
    let mut renamed = Vec::new();
    let mut seen_given: HashSet<String> = HashSet::new();
    for (i, c) in channels.iter_mut().enumerate() {
        let keep = if i < given {
            seen_given.insert(c.name.clone())
        } else {
            taken.insert(c.name.clone())
        };
        if keep {
            continue;
        }
        let new = (2u32..)
            .map(|k| format!("{}_{k}", c.name))
            .find(|n| !taken.contains(n))
            .unwrap_or_else(|| c.name.clone());
        taken.insert(new.clone());
        renamed.push((std::mem::replace(&mut c.name, new.clone()), new));
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::Unit;

    fn metric(n: &str) -> Channel {
        Channel::metric(n, Unit::Percent, "t")
    }

    #[test]
    fn generated_names_step_aside_for_given_ones() {
        let mut ch: Vec<Channel> = ["gpu_load", "gpu_load_2", "gpu_load", "cpu_load"]
            .into_iter()
            .map(metric)
            .collect();
        let r = make_unique(&mut ch, 2);
        let names: Vec<&str> = ch.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["gpu_load", "gpu_load_2", "gpu_load_3", "cpu_load"]);
        assert_eq!(r, [("gpu_load".to_string(), "gpu_load_3".to_string())]);
        let mut same = ch.clone();
        assert!(make_unique(&mut same, 4).is_empty());
    }
}
