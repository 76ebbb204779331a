//! Families that write themselves: promhttp's own storage keeps its page rendered
//! (label blocks escaped once, bucket bounds formatted once) and writes numbers
//! straight into the output, without building the model first; the
//! prometheus-client bridge writes the families it read from that crate's
//! registry from where they lie, sorted through an index.
//!
//! A source hands such families over with [`Gathered::push_direct`]. Where the
//! model is needed (push, remote write, [`gather_all`](super::gather_all), a family
//! that shares its name with another source's), a direct family is turned into a
//! [`MetricFamily`] and takes the model path, checked and merged as every family is.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::Gathered;
use crate::encode::{EncodeOptions, Escaping, Format};
use crate::model::MetricFamily;

/// A family that can encode itself, and describe itself in the model.
///
/// Its name is valid, its series unique and sorted: [`normalize`](super::normalize)
/// does not check it again.
pub(crate) trait DirectFamily: Send + Sync {
    /// The family name.
    fn name(&self) -> &str;
    /// Appends the family in `format` (no OpenMetrics `# EOF`).
    fn encode(&self, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>);
    /// The family in the model.
    fn to_model(&self) -> MetricFamily;
    /// The family in the model, moved out when this is its only handle (a family
    /// made for one scrape), else copied as [`to_model`](Self::to_model) does.
    fn into_model(self: Arc<Self>) -> MetricFamily {
        self.to_model()
    }
}

/// A shared direct family, as [`Gathered`] holds it.
#[derive(Clone)]
pub(crate) struct Direct(pub(crate) Arc<dyn DirectFamily>);

impl fmt::Debug for Direct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Direct").field(&self.0.name()).finish()
    }
}

impl Gathered {
    /// Adds a family that encodes itself.
    pub(crate) fn push_direct(&mut self, family: Arc<dyn DirectFamily>) {
        self.direct.push(Direct(family));
    }

    /// Turns every direct family into a model family.
    pub(crate) fn materialize(&mut self) {
        let direct = std::mem::take(&mut self.direct);
        self.families.reserve(direct.len());
        self.families
            .extend(direct.into_iter().map(|d| d.0.into_model()));
    }

    /// Whether a family of this name is on the page, directly or in the model.
    pub(crate) fn retain_names(&mut self, keep: impl Fn(&str) -> bool) {
        self.families.retain(|f| keep(&f.name));
        self.direct.retain(|d| keep(d.0.name()));
    }
}

/// Sample-name suffixes that could relate two families' names.
const RELATED: [&str; 5] = ["_total", "_bucket", "_count", "_sum", "_created"];

/// Moves into the model every direct family whose name is, or could clash with,
/// another family's (the same name, or one that differs by a generated suffix), so
/// the model path's merge and clash rules decide; the rest stay direct, sorted by
/// name.
pub(crate) fn settle(g: &mut Gathered, escaping: Escaping) {
    if g.direct.is_empty() {
        return;
    }
    // Direct families have legacy names, which every scheme but `dots` keeps; under
    // `dots` (which doubles every `_`) they take the model path, which escapes. So
    // do they when another family's name changes: only the model path tells an
    // escaped name that clashes with theirs from one that merges.
    let renamed = |f: &MetricFamily| matches!(escaping.escape_metric_name(&f.name), Cow::Owned(_));
    if escaping == Escaping::Dots || g.families.iter().any(renamed) {
        g.materialize();
        return;
    }
    let mut names: Vec<&str> = g
        .families
        .iter()
        .map(|f| f.name.as_str())
        .chain(g.direct.iter().map(|d| d.0.name()))
        .collect();
    names.sort_unstable();
    let taken = |n: &str| names.binary_search(&n).is_ok();
    let count = |n: &str| names.iter().filter(|x| **x == n).count();
    // Another family's name equal to `other`, `other` not being `name` itself.
    let other_taken = |name: &str, other: &str| other != name && taken(other);
    let related = |name: &str| {
        count(name) > 1
            || RELATED.iter().any(|s| {
                name.strip_suffix(s)
                    .is_some_and(|base| other_taken(name, base))
                    || other_taken(name, &format!("{name}{s}"))
                    || name
                        .strip_suffix("_total")
                        .is_some_and(|base| other_taken(name, &format!("{base}{s}")))
            })
    };
    let clashing: Vec<bool> = g.direct.iter().map(|d| related(d.0.name())).collect();
    if clashing.iter().any(|c| *c) {
        let direct = std::mem::take(&mut g.direct);
        for (d, clash) in direct.into_iter().zip(clashing) {
            if clash {
                g.families.push(d.0.into_model());
            } else {
                g.direct.push(d);
            }
        }
    }
    g.direct.sort_by(|a, b| a.0.name().cmp(b.0.name()));
}

/// Encodes normalized `families` and settled `direct` families in name order.
pub(crate) fn encode_page(
    format: Format,
    families: &[MetricFamily],
    direct: &[Direct],
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) {
    if direct.is_empty() {
        return crate::encode::encode(format, families, opts, out);
    }
    let mut d = direct.iter().peekable();
    let mut start = 0;
    for (i, f) in families.iter().enumerate() {
        while let Some(next) = d.next_if(|x| x.0.name() < f.name.as_str()) {
            crate::encode::encode_families(format, &families[start..i], opts, out);
            start = i;
            next.0.encode(format, opts, out);
        }
    }
    crate::encode::encode_families(format, &families[start..], opts, out);
    for rest in d {
        rest.0.encode(format, opts, out);
    }
    crate::encode::finish(format, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Metric, MetricType, Value};

    struct Named(&'static str);

    impl DirectFamily for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn encode(&self, _: Format, _: &EncodeOptions, _: &mut Vec<u8>) {}
        fn to_model(&self) -> MetricFamily {
            MetricFamily::new(self.0, "", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(1.0)))
        }
    }

    fn settled(direct: &[&'static str], model: &[&'static str]) -> (Vec<String>, Vec<String>) {
        let mut g = Gathered::default();
        for name in direct {
            g.push_direct(Arc::new(Named(name)));
        }
        for name in model {
            g.families
                .push(MetricFamily::new(*name, "", MetricType::Gauge));
        }
        settle(&mut g, Escaping::Underscores);
        (
            g.direct.iter().map(|d| d.0.name().to_owned()).collect(),
            g.families.iter().map(|f| f.name.to_string()).collect(),
        )
    }

    /// Families that clash with nothing stay direct (a `_total` counter is not its
    /// own clash); one that shares a name, or differs from another by a generated
    /// suffix, goes to the model.
    #[test]
    fn only_related_names_leave_the_direct_path() {
        let (direct, model) = settled(&["b_total", "a", "c_seconds"], &["z"]);
        assert_eq!(
            (direct, model.len()),
            (vec!["a".into(), "b_total".into(), "c_seconds".into()], 1)
        );
        for (d, m) in [
            ("x", "x"),
            ("x_total", "x"),
            ("x", "x_bucket"),
            ("x_count", "x"),
            ("x_total", "x_created"),
        ] {
            let (direct, model) = settled(&[d], &[m]);
            assert!(direct.is_empty(), "{d} beside {m}");
            assert_eq!(model.len(), 2, "{d} beside {m}");
        }
        let (direct, model) = settled(&["x", "x"], &[]);
        assert_eq!((direct.len(), model.len()), (0, 2));
    }
}
