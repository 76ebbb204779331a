//! Native bucket indexes: which exponential bucket a value falls into at a schema,
//! the bounds of a bucket, and where a bucket goes when the schema drops by one.
//!
//! Bucket `k` of schema `s` is `(2^((k-1)/2^s), 2^(k/2^s)]`: upper-inclusive, so a
//! value on a boundary goes to the lower bucket. The index is found as Go's client
//! finds it, exactly: the value is split into a fraction in `[0.5, 1)` and a power
//! of two (`frexp`), and the fraction is looked up among the bounds within one
//! power of two. No logarithm is taken, so boundary values never round into the
//! wrong bucket.

use std::f64::consts::FRAC_1_SQRT_2;

/// The coarsest schema: each bucket 2^16 times as wide as the one before.
pub(crate) const MIN_SCHEMA: i32 = -4;
/// The finest schema: 256 buckets per power of two.
pub(crate) const MAX_SCHEMA: i32 = 8;

/// `2^(j/256) / 2` for `j` in `0..256`, each correctly rounded to the nearest `f64`
/// (generated with 60-digit decimal arithmetic): the bounds of schema 8's buckets
/// within one power of two, as fractions in `[0.5, 1)`. Schema `s > 0` uses every
/// `2^(8-s)`-th entry.
#[rustfmt::skip]
const FRACTIONS: [f64; 256] = [
    0.5, 0.5013556375251013, 0.5027149505564014, 0.5040779490592088,
    0.5054446430258502, 0.5068150424757447, 0.5081891574554765, 0.509566998038869,
    0.5109485743270583, 0.5123338964485679, 0.5137229745593819, 0.5151158188430205,
    0.5165124395106142, 0.5179128468009786, 0.5193170509806894, 0.520725062344158,
    0.5221368912137069, 0.5235525479396449, 0.5249720429003436, 0.5263953865023132,
    0.5278225891802786, 0.5292536613972564, 0.530688613644631, 0.5321274564422322,
    0.5335702003384118, 0.5350168559101209, 0.5364674337629878, 0.5379219445313955,
    0.5393803988785599, 0.5408428074966076, 0.5423091811066546, 0.5437795304588848,
    0.5452538663326288, 0.5467321995364429, 0.5482145409081884, 0.549700901315111,
    0.5511912916539204, 0.5526857228508706, 0.5541842058618394, 0.5556867516724088,
    0.5571933712979462, 0.5587040757836846, 0.5602188762048034, 0.56173778366651,
    0.5632608093041209, 0.564787964283144, 0.5663192597993596, 0.5678547070789027,
    0.5693943173783458, 0.5709381019847808, 0.5724860722159021, 0.5740382394200895,
    0.5755946149764913, 0.577155210295108, 0.5787200368168756, 0.5802891060137494,
    0.5818624293887887, 0.5834400184762408, 0.5850218848416251, 0.5866080400818187,
    0.5881984958251406, 0.5897932637314379, 0.5913923554921705, 0.5929957828304969,
    0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371903,
    0.6010783657263515, 0.6027080545025619, 0.6043421618132908, 0.6059806996384006,
    0.6076236799902345, 0.6092711149137042, 0.6109230164863788, 0.6125793968185728,
    0.614240268053435, 0.6159056423670379, 0.6175755319684667, 0.6192499490999083,
    0.620928906036742, 0.622612415087629, 0.6243004885946024, 0.6259931389331581,
    0.6276903785123455, 0.6293922197748583, 0.6310986751971254, 0.6328097572894031,
    0.6345254785958666, 0.6362458516947014, 0.637970889198196, 0.6397006037528347,
    0.6414350080393891, 0.6431741147730128, 0.6449179367033329, 0.6466664866145447,
    0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673387,
    0.6554806057623822, 0.6572577939746773, 0.659039800633032, 0.6608266388015788,
    0.6626183215798707, 0.6644148621029772, 0.6662162735415808, 0.6680225691020729,
    0.6698337620266515, 0.6716498655934177, 0.6734708931164729, 0.6752968579460172,
    0.6771277734684463, 0.6789636531064506, 0.6808045103191124, 0.682650358602006,
    0.6845012114872953, 0.6863570825438342, 0.6882179853772651, 0.690083933630119,
    0.691954940981916, 0.6938310211492645, 0.6957121878859631, 0.6975984549831001,
    0.6994898362691556, 0.7013863456101024, 0.7032879969095077, 0.7051948041086353,
    FRAC_1_SQRT_2, 0.7090239421602076, 0.7109463010845828, 0.7128738720527471,
    0.714806669195985, 0.7167447066838945, 0.7186879987244912, 0.7206365595643128,
    0.7225904034885233, 0.7245495448210175, 0.7265139979245263, 0.7284837772007219,
    0.7304588970903235, 0.7324393720732029, 0.7344252166684909, 0.7364164454346838,
    0.7384130729697497, 0.7404151139112359, 0.7424225829363762, 0.7444354947621985,
    0.7464538641456324, 0.7484777058836177, 0.7505070348132128, 0.7525418658117032,
    0.7545822137967114, 0.7566280937263049, 0.7586795205991074, 0.7607365094544073,
    0.7627990753722692, 0.7648672334736435, 0.766940998920478, 0.7690203869158284,
    0.7711054127039704, 0.7731960915705107, 0.7752924388425, 0.7773944698885443,
    0.7795022001189185, 0.7816156449856788, 0.7837348199827765, 0.7858597406461707,
    0.7879904225539432, 0.7901268813264123, 0.7922691326262469, 0.794417192158582,
    0.7965710756711335, 0.7987307989543135, 0.8008963778413467, 0.8030678282083855,
    0.8052451659746271, 0.8074284071024304, 0.8096175675974319, 0.8118126635086644,
    0.8140137109286739, 0.8162207259936375, 0.8184337248834822, 0.8206527238220032,
    0.8228777390769825, 0.8251087869603089, 0.8273458838280972, 0.8295890460808081,
    0.8318382901633682, 0.8340936325652912, 0.8363550898207983, 0.8386226785089392,
    0.8408964152537145, 0.8431763167241967, 0.8454623996346526, 0.8477546807446663,
    0.8500531768592617, 0.8523579048290256, 0.8546688815502315, 0.856986123964963,
    0.859309649061239, 0.861639473873137, 0.8639756154809188, 0.8663180910111555,
    0.8686669176368531, 0.8710221125775782, 0.8733836930995845, 0.8757516765159391,
    0.8781260801866497, 0.880506921518792, 0.8828942179666364, 0.8852879870317774,
    0.8876882462632606, 0.8900950132577122, 0.8925083056594675, 0.8949281411607005,
    0.8973545375015536, 0.8997875124702676, 0.902227083903312, 0.904673269685516,
    0.9071260877501994, 0.9095855560793042, 0.9120516927035267, 0.9145245157024486,
    0.9170040432046712, 0.9194902933879469, 0.921983284479313, 0.9244830347552254,
    0.9269895625416927, 0.9295028862144102, 0.9320230241988945, 0.9345499949706193,
    0.93708381705515, 0.9396245090282801, 0.9421720895161673, 0.9447265771954696,
    0.9472879907934828, 0.9498563490882777, 0.9524316709088371, 0.9550139751351949,
    0.9576032806985737, 0.9601996065815237, 0.9628029718180625, 0.9654133954938136,
    0.9680308967461472, 0.9706554947643202, 0.9732872087896166, 0.9759260581154892,
    0.9785720620877001, 0.9812252401044637, 0.9838856116165879, 0.9865531961276172,
    0.9892280131939755, 0.9919100824251097, 0.9945994234836332, 0.9972960560854701,
];

/// `x` as `fraction * 2^exponent` with the fraction in `[0.5, 1)` (0 for 0), for a
/// finite `x >= 0`; subnormal numbers included.
pub(crate) fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 {
        return (0.0, 0);
    }
    let (x, shift) = if x < f64::MIN_POSITIVE {
        (x * 2f64.powi(64), -64)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (fraction, biased - 1022 + shift)
}

/// The index of the bucket `|v|` falls into at `schema` (in `MIN_SCHEMA..=MAX_SCHEMA`).
///
/// ±Inf go to the bucket above the one holding `f64::MAX`, as in Go's client. The
/// caller handles NaN and the zero bucket (`v` is never 0 here in practice; 0 gives
/// the bucket of the smallest power of two).
pub(crate) fn bucket_index(v: f64, schema: i32) -> i32 {
    let abs = v.abs();
    let (fraction, exponent) = frexp(if abs.is_infinite() { f64::MAX } else { abs });
    let index = if schema > 0 {
        let stride = 1usize << (MAX_SCHEMA - schema);
        let per_power = 1i32 << schema;
        // How many of the bounds within one power of two are below the fraction.
        let (mut low, mut high) = (0usize, per_power as usize);
        while low < high {
            let mid = (low + high) / 2;
            if FRACTIONS[mid * stride] < fraction {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low as i32 + (exponent - 1) * per_power
    } else {
        // `fraction == 0.5` is a power of two: the upper bound of the bucket below.
        let key = if fraction == 0.5 {
            exponent - 1
        } else {
            exponent
        };
        let shift = -schema;
        (key + (1 << shift) - 1) >> shift
    };
    if abs.is_infinite() {
        index + 1
    } else {
        index
    }
}

/// The upper bound of bucket `index` at `schema`; `f64::MAX` for the last bucket of
/// finite values and `+Inf` above it (the bucket of ±Inf observations).
pub(crate) fn upper_bound(index: i32, schema: i32) -> f64 {
    let (fraction, exponent) = if schema > 0 {
        let per_power = 1i32 << schema;
        let j = index.rem_euclid(per_power) as usize;
        (
            FRACTIONS[j << (MAX_SCHEMA - schema)],
            index.div_euclid(per_power) + 1,
        )
    } else {
        (0.5, (index << -schema) + 1)
    };
    if fraction == 0.5 && exponent == 1025 {
        return f64::MAX;
    }
    ldexp(fraction, exponent)
}

/// `fraction * 2^exponent` for a fraction in `[0.5, 1)`, down to subnormals and up
/// to infinity.
fn ldexp(fraction: f64, exponent: i32) -> f64 {
    // Two steps keep each power of two representable.
    let half = exponent / 2;
    fraction * 2f64.powi(half) * 2f64.powi(exponent - half)
}

/// The bucket of the next lower schema that bucket `index` falls into: buckets
/// `2j - 1` and `2j` merge into bucket `j`.
pub(crate) fn reduced_index(index: i32) -> i32 {
    (index >> 1) + (index & 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: the smallest `k` whose upper bound is at least `|v|`, found by
    /// walking the exactly computed bounds.
    fn reference_index(v: f64, schema: i32) -> i32 {
        let abs = v.abs();
        // A first guess from the logarithm, then corrected with exact bounds.
        let mut k = (abs.log2() * 2f64.powi(schema)).ceil() as i32;
        while k > i32::MIN / 2 && reference_bound(k - 1, schema) >= abs {
            k -= 1;
        }
        while reference_bound(k, schema) < abs {
            k += 1;
        }
        k
    }

    /// `2^(k/2^schema)` from the table for the fraction and exact powers of two.
    fn reference_bound(k: i32, schema: i32) -> f64 {
        if schema <= 0 {
            let e = k << -schema;
            return 2f64.powi(e / 2) * 2f64.powi(e - e / 2);
        }
        let per = 1 << schema;
        let j = k.rem_euclid(per);
        let p = k.div_euclid(per);
        // 2^(j/per) * 2^p, with 2^(j/per) = 2 * FRACTIONS[j * 256/per].
        2.0 * FRACTIONS[(j << (MAX_SCHEMA - schema)) as usize]
            * 2f64.powi(p / 2)
            * 2f64.powi(p - p / 2)
    }

    #[test]
    fn fractions_are_the_powers_of_two() {
        for (j, f) in FRACTIONS.iter().enumerate() {
            let want = (j as f64 / 256.0).exp2() / 2.0;
            assert!(
                (f - want).abs() <= f64::EPSILON * want,
                "{j}: {f} vs {want}"
            );
        }
        assert!(FRACTIONS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(FRACTIONS[128], 0.5f64.sqrt()); // FRAC_1_SQRT_2
    }

    #[test]
    fn frexp_splits_exactly() {
        for x in [
            1.0,
            0.5,
            3.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e-310,
            0.1,
        ] {
            let (f, e) = frexp(x);
            assert!((0.5..1.0).contains(&f), "{x}");
            assert_eq!(ldexp(f, e), x);
        }
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(5e-324), (0.5, -1073));
    }

    #[test]
    fn boundaries_go_to_the_lower_bucket() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            assert_eq!(bucket_index(1.0, schema), 0, "schema {schema}");
            assert_eq!(bucket_index(-1.0, schema), 0);
            assert_eq!(bucket_index(1.0 + f64::EPSILON, schema), 1);
            assert_eq!(bucket_index(2.0, schema), 1 << schema.max(0));
            for k in -300..300 {
                let bound = upper_bound(k, schema);
                if bound == 0.0 || bound.is_infinite() || bound == f64::MAX {
                    continue;
                }
                assert_eq!(bucket_index(bound, schema), k, "schema {schema} k {k}");
                assert_eq!(bucket_index(next_up(bound), schema), k + 1);
                assert_eq!(reference_index(bound, schema), k);
            }
        }
    }

    #[test]
    fn extremes() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let last = bucket_index(f64::MAX, schema);
            assert_eq!(upper_bound(last, schema), f64::MAX);
            assert_eq!(bucket_index(f64::INFINITY, schema), last + 1);
            assert_eq!(bucket_index(f64::NEG_INFINITY, schema), last + 1);
            assert_eq!(upper_bound(last + 1, schema), f64::INFINITY);
            let smallest = bucket_index(5e-324, schema);
            assert!(upper_bound(smallest, schema) >= 5e-324);
            // 5e-324 is 2^-1074, the upper bound of its bucket.
            assert_eq!(smallest, (-1074.0 * 2f64.powi(schema)).ceil() as i32);
        }
        assert_eq!(bucket_index(f64::MAX, 8), 1024 * 256);
        assert_eq!(bucket_index(f64::MAX, -4), 64);
    }

    fn next_up(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1)
    }

    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1e6f64..1e6).prop_filter("not zero", |v| *v != 0.0),
            // Normal numbers: below them, a rounded bound is not the exact one.
            any::<f64>().prop_filter("finite, normal", |v| v.is_finite()
                && v.abs() >= f64::MIN_POSITIVE),
            (-40i32..40, -1i32..=1).prop_map(|(e, d)| f64::from_bits(
                (2f64.powi(e).to_bits() as i64 + i64::from(d)) as u64
            )),
        ]
    }

    proptest! {
        #[test]
        fn index_matches_reference(v in any_value(), schema in MIN_SCHEMA..=MAX_SCHEMA) {
            prop_assert_eq!(bucket_index(v, schema), reference_index(v, schema));
        }

        #[test]
        fn reduced_bucket_contains_both_halves(
            v in any_value(),
            schema in (MIN_SCHEMA + 1)..=MAX_SCHEMA,
        ) {
            prop_assert_eq!(
                reduced_index(bucket_index(v, schema)),
                bucket_index(v, schema - 1)
            );
        }
    }
}
