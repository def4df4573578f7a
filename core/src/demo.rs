//! The demo dataset: a small, realistic world to try every verdict on.
//!
//! Four enterprises (Ningbo food, Hangzhou appliances, Shenzhen medical devices, and a Suzhou
//! electronics maker whose prefix was cancelled), their products, code ranges in every lifecycle
//! state, a GS1-serialised medical device, scratch-PIN liquor, regulatory notices (a recall, a
//! failed spot check, a revoked CCC certificate), and four stores with one kiosk each in four
//! cities. Seeded through the same [`Registry`] operations an enterprise uses, so the demo also
//! exercises the lifecycle and fills the audit log.
//!
//! The codes of each scenario are kept in the `meta` table under [`MANIFEST_KEY`] and printed by
//! `zhenwei demo-codes`.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use crate::clock::today;

use crate::codes::gtin;
use crate::codes::uscc;
use crate::lifecycle::{BatchData, LifecycleError, NewNotice, NewProduct, Registry};
use crate::store::Store;

/// Where the scenario → codes map is stored.
pub const MANIFEST_KEY: &str = "demo_codes";

/// The scenario names `zhenwei demo-codes` prints, exactly.
pub const SCENARIOS: [&str; 12] = [
    "genuine",
    "recalled",
    "spot_check_failed",
    "certificate_invalid",
    "expired",
    "not_activated",
    "cancelled",
    "prefix_invalid",
    "gs1_serial",
    "gs1_lot_mismatch",
    "scratch_pin",
    "gtin_only",
];

/// Kiosks of the demo stores: (kiosk name, store name, division code).
pub const DEMO_KIOSKS: [(&str, &str, &str); 4] = [
    ("kiosk-nb-01", "甬江超市海曙店", "330203"),
    ("kiosk-hz-01", "西湖百货文三路店", "330106"),
    ("kiosk-sh-01", "徐汇生活广场店", "310104"),
    ("kiosk-sz-01", "南山科技园便利店", "440305"),
];

/// How many genuine codes the demo prints.
pub const GENUINE_CODES: u64 = 250;

type Manifest = BTreeMap<String, Vec<String>>;

fn credit_code(body17: &str) -> Result<String, LifecycleError> {
    let c = uscc::check_char(body17).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    Ok(format!("{body17}{c}"))
}

fn ean13(first12: &str) -> String {
    let digits: Vec<u8> = first12.bytes().map(|b| b - b'0').collect();
    format!("{first12}{}", gtin::check_digit(&digits))
}

/// Seeds the demo dataset if the database has no enterprise yet. Returns whether it seeded.
pub async fn seed_if_empty(reg: &Registry) -> Result<bool, LifecycleError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enterprises")
        .fetch_one(reg.store().pool())
        .await?;
    if n > 0 {
        return Ok(false);
    }
    let manifest = seed(reg).await?;
    let text =
        serde_json::to_string(&manifest).map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    reg.store().set_meta(MANIFEST_KEY, &text).await?;
    Ok(true)
}

/// The scenario → codes map of a seeded database.
pub async fn manifest(store: &Store) -> Result<Option<serde_json::Value>, LifecycleError> {
    match store.meta(MANIFEST_KEY).await? {
        Some(text) => Ok(Some(
            serde_json::from_str(&text).map_err(|e| LifecycleError::Invalid(e.to_string()))?,
        )),
        None => Ok(None),
    }
}

async fn seed(reg: &Registry) -> Result<Manifest, LifecycleError> {
    const ACTOR: &str = "demo";
    let today = today();
    let made = today - Duration::days(30);
    let best_before = today + Duration::days(730);
    let mut m = Manifest::new();

    // Enterprises and prefixes.
    let food = credit_code("91330203MA2H00001")?;
    let appliances = credit_code("91330106MA2K00002")?;
    let medical = credit_code("91440305MA5D00003")?;
    let earphones = credit_code("91320505MA1N00004")?;
    reg.add_enterprise(
        ACTOR,
        &food,
        "宁波甬江食品有限公司",
        Some("Ningbo Yongjiang Foods Co., Ltd."),
        "330203",
    )
    .await?;
    reg.add_enterprise(
        ACTOR,
        &appliances,
        "杭州西湖电器有限公司",
        Some("Hangzhou Xihu Appliances Co., Ltd."),
        "330106",
    )
    .await?;
    reg.add_enterprise(
        ACTOR,
        &medical,
        "深圳南山医疗器械有限公司",
        Some("Shenzhen Nanshan Medical Devices Co., Ltd."),
        "440305",
    )
    .await?;
    reg.add_enterprise(
        ACTOR,
        &earphones,
        "苏州虎丘电子有限公司",
        Some("Suzhou Huqiu Electronics Co., Ltd."),
        "320505",
    )
    .await?;
    let registered = today - Duration::days(200);
    reg.add_prefix(ACTOR, &food, "6901234", registered).await?;
    reg.add_prefix(ACTOR, &appliances, "6923456", registered)
        .await?;
    reg.add_prefix(ACTOR, &medical, "6934567", registered)
        .await?;
    reg.add_prefix(ACTOR, &earphones, "6945678", today - Duration::days(900))
        .await?;

    // Products.
    let product =
        |gtin: &str, ent: &str, name: &str, name_en: &str, spec: &str, category: &str| NewProduct {
            gtin: gtin.to_owned(),
            credit_code: ent.to_owned(),
            name: name.to_owned(),
            name_en: Some(name_en.to_owned()),
            spec: Some(spec.to_owned()),
            category: Some(category.to_owned()),
            ..NewProduct::default()
        };
    let formula = ean13("690123400011");
    let yogurt = ean13("690123400028");
    let vitamin = ean13("690123400035");
    let liquor = ean13("690123400042");
    let cooker = ean13("692345600017");
    let kettle = ean13("692345600024");
    let meter = ean13("693456700013");
    let buds = ean13("694567800019");
    reg.add_product(
        ACTOR,
        &product(
            &formula,
            &food,
            "婴幼儿配方奶粉",
            "Infant formula",
            "900 g",
            "乳制品",
        ),
    )
    .await?;
    reg.add_product(
        ACTOR,
        &product(
            &yogurt,
            &food,
            "风味发酵乳",
            "Flavoured yogurt",
            "200 g",
            "乳制品",
        ),
    )
    .await?;
    reg.add_product(
        ACTOR,
        &product(
            &vitamin,
            &food,
            "维生素C咀嚼片",
            "Vitamin C chewable tablets",
            "60 片",
            "保健食品",
        ),
    )
    .await?;
    reg.add_product(
        ACTOR,
        &product(
            &liquor,
            &food,
            "浓香型白酒",
            "Strong-aroma baijiu",
            "500 ml",
            "酒类",
        ),
    )
    .await?;
    reg.add_product(
        ACTOR,
        &product(
            &cooker,
            &appliances,
            "智能电饭煲",
            "Smart rice cooker",
            "4 L",
            "家用电器",
        ),
    )
    .await?;
    reg.add_product(
        ACTOR,
        &NewProduct {
            ccc_cert_no: Some("2024010701123456".into()),
            ..product(
                &kettle,
                &appliances,
                "电热水壶",
                "Electric kettle",
                "1.7 L",
                "家用电器",
            )
        },
    )
    .await?;
    reg.add_product(
        ACTOR,
        &NewProduct {
            licence_no: Some("粤械注准20242070001".into()),
            ..product(
                &meter,
                &medical,
                "血糖仪",
                "Blood glucose meter",
                "GM-100",
                "医疗器械",
            )
        },
    )
    .await?;
    reg.add_product(
        ACTOR,
        &product(
            &buds,
            &earphones,
            "蓝牙耳机",
            "Bluetooth earbuds",
            "TWS-5",
            "电子产品",
        ),
    )
    .await?;

    let batch = |lot: &str, expiry: NaiveDate| BatchData {
        lot: lot.to_owned(),
        production_date: Some(made),
        expiry_date: Some(expiry),
        made_in: None,
    };
    let codes =
        |reg: &Registry, range: &crate::lifecycle::CodeRange, serials: std::ops::Range<u64>| {
            serials
                .map(|s| reg.code(range, s))
                .collect::<Result<Vec<_>, _>>()
        };

    // Infant formula: genuine, not activated and cancelled codes in one range.
    let r = reg
        .request_range(ACTOR, &formula, 10_000, Some("2026 Q4 production plan"))
        .await?;
    reg.activate(ACTOR, r.id, 0, Some(5_000), &batch("NB2026A", best_before))
        .await?;
    reg.activate(
        ACTOR,
        r.id,
        6_000,
        Some(6_100),
        &batch("NB2026B", best_before),
    )
    .await?;
    reg.cancel_span(ACTOR, r.id, 6_000, 6_100, "labels damaged at the printer")
        .await?;
    m.insert("genuine".into(), codes(reg, &r, 0..GENUINE_CODES)?);
    m.insert("not_activated".into(), codes(reg, &r, 5_000..5_010)?);
    m.insert("cancelled".into(), codes(reg, &r, 6_000..6_010)?);
    m.insert("gtin_only".into(), vec![formula.clone()]);

    // Yogurt: one recalled lot.
    let r = reg.request_range(ACTOR, &yogurt, 1_000, None).await?;
    reg.activate(
        ACTOR,
        r.id,
        0,
        None,
        &batch("YG2026R", today + Duration::days(20)),
    )
    .await?;
    reg.add_notice(
        ACTOR,
        &NewNotice {
            kind: "recall".into(),
            reference: Some("DEMO-RECALL-2026-001".into()),
            gtin: Some(format!("0{yogurt}")),
            lot: Some("YG2026R".into()),
            status: "active".into(),
            advice_zh: Some("请立即停止食用，凭购物凭证到购买处退货。".into()),
            advice_en: Some(
                "Stop eating it now and return it with your receipt where you bought it.".into(),
            ),
            ..NewNotice::default()
        },
    )
    .await?;
    m.insert("recalled".into(), codes(reg, &r, 0..10)?);

    // Rice cooker: failed a spot check.
    let r = reg.request_range(ACTOR, &cooker, 1_000, None).await?;
    reg.activate(ACTOR, r.id, 0, None, &batch("DF2026S", best_before))
        .await?;
    reg.add_notice(
        ACTOR,
        &NewNotice {
            kind: "spot_check".into(),
            reference: Some("DEMO-SPOT-2026-001".into()),
            gtin: Some(format!("0{cooker}")),
            lot: Some("DF2026S".into()),
            status: "failed".into(),
            advice_zh: Some("该批次在2026年浙江省产品质量监督抽查中不合格。".into()),
            advice_en: Some(
                "This batch failed the 2026 Zhejiang product quality spot check.".into(),
            ),
            ..NewNotice::default()
        },
    )
    .await?;
    m.insert("spot_check_failed".into(), codes(reg, &r, 0..10)?);

    // Kettle: CCC certificate revoked.
    let r = reg.request_range(ACTOR, &kettle, 1_000, None).await?;
    reg.activate(ACTOR, r.id, 0, None, &batch("KT2026C", best_before))
        .await?;
    reg.add_notice(
        ACTOR,
        &NewNotice {
            kind: "ccc".into(),
            reference: Some("2024010701123456".into()),
            cert_no: Some("2024010701123456".into()),
            status: "revoked".into(),
            ..NewNotice::default()
        },
    )
    .await?;
    m.insert("certificate_invalid".into(), codes(reg, &r, 0..10)?);

    // Vitamin C: a batch past its expiry date.
    let r = reg.request_range(ACTOR, &vitamin, 1_000, None).await?;
    let expired = BatchData {
        lot: "VC2024E".into(),
        production_date: Some(today - Duration::days(760)),
        expiry_date: Some(today - Duration::days(30)),
        made_in: None,
    };
    reg.activate(ACTOR, r.id, 0, None, &expired).await?;
    m.insert("expired".into(), codes(reg, &r, 0..10)?);

    // Earbuds: the manufacturer prefix was cancelled after the codes were printed.
    let r = reg.request_range(ACTOR, &buds, 1_000, None).await?;
    reg.activate(ACTOR, r.id, 0, None, &batch("EB2025P", best_before))
        .await?;
    reg.cancel_prefix(ACTOR, "6945678").await?;
    m.insert("prefix_invalid".into(), codes(reg, &r, 0..10)?);

    // Glucose meter: GS1 DataMatrix with GTIN, expiry, lot and serial.
    let meter_expiry = today + Duration::days(365);
    let serials: String = (1..=200).map(|i| format!("SN{i:06}\n")).collect();
    reg.upload_serials(
        ACTOR,
        &meter,
        &batch("GM2026A", meter_expiry),
        &mut serials.as_bytes(),
    )
    .await?;
    let yymmdd = meter_expiry.format("%y%m%d");
    let scan = |lot: &str, i: u32| format!("]d2010{meter}17{yymmdd}10{lot}\u{1d}21SN{i:06}");
    m.insert(
        "gs1_serial".into(),
        (1..=10).map(|i| scan("GM2026A", i)).collect(),
    );
    m.insert(
        "gs1_lot_mismatch".into(),
        (101..=110).map(|i| scan("GM2025X", i)).collect(),
    );

    // Liquor: legacy scratch-off PINs.
    let pins: Vec<String> = (0..20u32).map(demo_pin).collect();
    reg.upload_pins(
        ACTOR,
        &liquor,
        &batch("BJ2026L", today + Duration::days(3650)),
        &mut pins.join("\n").as_bytes(),
    )
    .await?;
    m.insert("scratch_pin".into(), pins.into_iter().take(10).collect());

    // Stores with kiosks in four cities.
    for (kiosk, store, division) in DEMO_KIOSKS {
        let id = reg.add_store(ACTOR, store, division, None).await?;
        reg.add_kiosk(ACTOR, id, kiosk).await?;
    }

    // Where the demo phone numbers are (SMS and IVR cases are routed by it).
    crate::numbers::import(reg.store(), ACTOR, crate::numbers::EXAMPLE_CSV.as_bytes())
        .await
        .map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    Ok(m)
}

/// A deterministic 12-character demo PIN without ambiguous characters.
fn demo_pin(i: u32) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..12)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            char::from(ALPHABET[(x % ALPHABET.len() as u64) as usize])
        })
        .collect()
}
