//! How things are spoken: numbers, dates, digit strings and verdicts, in Chinese and English.
//!
//! Pure functions from values to prompt lists. Chinese counts use 十/百/千/万 with 零 for gaps
//! (105 → 一百零五, 10 → 十); codes are read digit by digit with 幺 for 1, as telephone
//! operators do. English counts are cardinal words ("two hundred five"), years in pairs
//! ("twenty twenty-six"). Dates are China dates (the first query's day in UTC+8).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use zhenwei_core::verdict::{Authenticity, Warning};
use zhenwei_core::{Lang, Verdict};

use super::{PromptId, Say, Utterance};

/// The prompt ids that say `say` (names and pauses are not prompts: empty).
pub fn expand(lang: Lang, say: &Say) -> Vec<PromptId> {
    match say {
        Say::Prompt(id) => vec![*id],
        Say::Digits(s) => s
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| PromptId::digit(d as u8))
            .collect(),
        Say::Number(n) => number(lang, *n),
        Say::Date(d) => date(lang, *d),
        Say::Name(_) | Say::Pause { .. } => Vec::new(),
    }
}

/// A count. Negative numbers are read as zero; beyond the spoken range (≥ 10⁸), digit by digit.
pub fn number(lang: Lang, n: i64) -> Vec<PromptId> {
    let n = n.max(0);
    if n >= 100_000_000 {
        return n
            .to_string()
            .chars()
            .filter_map(|c| c.to_digit(10))
            .filter_map(PromptId::number)
            .collect();
    }
    let n = n as u32;
    let mut out = Vec::new();
    if lang.is_en() {
        english(n, &mut out);
    } else {
        chinese(n, &mut out);
    }
    out
}

fn push(out: &mut Vec<PromptId>, n: u32) {
    if let Some(p) = PromptId::number(n) {
        out.push(p);
    }
}

fn english(n: u32, out: &mut Vec<PromptId>) {
    match n {
        0..=19 => push(out, n),
        20..=99 => {
            push(out, n / 10 * 10);
            if let r @ 1.. = n % 10 {
                push(out, r);
            }
        }
        100..=999 => {
            push(out, n / 100);
            push(out, 100);
            if let r @ 1.. = n % 100 {
                english(r, out);
            }
        }
        1000..=999_999 => {
            english(n / 1000, out);
            push(out, 1000);
            if let r @ 1.. = n % 1000 {
                english(r, out);
            }
        }
        _ => {
            english(n / 1_000_000, out);
            push(out, 1_000_000);
            if let r @ 1.. = n % 1_000_000 {
                english(r, out);
            }
        }
    }
}

/// Chinese below 10⁴: 千, 百, 十 with one 零 for each run of missing places.
fn chinese_small(n: u32, out: &mut Vec<PromptId>, leading: bool) {
    let places = [(1000, 1000u32), (100, 100), (10, 10)];
    let mut started = false;
    let mut gap = false;
    for (div, word) in places {
        let d = n / div % 10;
        if d == 0 {
            gap |= started || !leading;
            continue;
        }
        if gap && (started || !leading) {
            push(out, 0);
        }
        gap = false;
        // 10–19 at the start of a number is 十…, not 一十….
        if !(div == 10 && d == 1 && !started && leading) {
            push(out, d);
        }
        push(out, word);
        started = true;
    }
    let units = n % 10;
    if units != 0 {
        if gap && (started || !leading) {
            push(out, 0);
        }
        push(out, units);
    }
}

fn chinese(n: u32, out: &mut Vec<PromptId>) {
    if n == 0 {
        push(out, 0);
        return;
    }
    let high = n / 10_000;
    let low = n % 10_000;
    if high > 0 {
        chinese_small(high, out, true);
        push(out, 10_000);
        if low > 0 {
            chinese_small(low, out, false);
        }
    } else {
        chinese_small(low, out, true);
    }
}

/// A date: 二零二六年十一月二十一日 / November twenty one, twenty twenty six.
pub fn date(lang: Lang, d: NaiveDate) -> Vec<PromptId> {
    let mut out = Vec::new();
    let year = d.year().clamp(0, 9999) as u32;
    if lang.is_en() {
        out.extend(PromptId::month(d.month()));
        english(d.day(), &mut out);
        if (1100..=9999).contains(&year) && year % 100 >= 10 {
            english(year / 100, &mut out);
            english(year % 100, &mut out);
        } else {
            english(year, &mut out);
        }
    } else {
        for c in year.to_string().chars().filter_map(|c| c.to_digit(10)) {
            push(&mut out, c);
        }
        out.push(PromptId::Year);
        out.extend(PromptId::month(d.month()));
        chinese(d.day(), &mut out);
        out.push(PromptId::Day);
    }
    out
}

/// The China calendar day of a Unix-millisecond time.
pub fn china_date(ms: i64) -> Option<NaiveDate> {
    let cst = FixedOffset::east_opt(8 * 3600)?;
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&cst).date_naive())
}

fn warning_prompt(w: Warning) -> Option<PromptId> {
    Some(match w {
        Warning::RepeatQuery => return None,
        Warning::ExcessiveQueries => PromptId::WExcessiveQueries,
        Warning::CloneSuspected => PromptId::WCloneSuspected,
        Warning::NotActivated => PromptId::WNotActivated,
        Warning::Cancelled => PromptId::WCancelled,
        Warning::BatchMismatch => PromptId::WBatchMismatch,
        Warning::ExpiryMismatch => PromptId::WExpiryMismatch,
        Warning::Expired => PromptId::WExpired,
        Warning::Recalled => PromptId::WRecalled,
        Warning::SpotCheckFailed => PromptId::WSpotCheckFailed,
        Warning::CertificateInvalid => PromptId::WCertificateInvalid,
        Warning::LicenceInvalid => PromptId::WLicenceInvalid,
        Warning::EnterpriseBlacklisted => PromptId::WEnterpriseBlacklisted,
        Warning::PrefixInvalid => PromptId::WPrefixInvalid,
    })
}

/// The name of the product in the caller's language.
pub fn product_name(v: &Verdict, lang: Lang) -> Option<String> {
    v.product.as_ref().map(|p| match (lang, &p.name_en) {
        (Lang::En, Some(en)) => en.clone(),
        _ => p.name.clone(),
    })
}

/// The name of the enterprise in the caller's language.
pub fn enterprise_name(v: &Verdict, lang: Lang) -> Option<String> {
    v.enterprise.as_ref().map(|e| match (lang, &e.name_en) {
        (Lang::En, Some(en)) => en.clone(),
        _ => e.name.clone(),
    })
}

/// Every name a verdict may speak (for warming the name cache).
pub fn names_in(v: &Verdict, lang: Lang) -> Vec<String> {
    let mut n: Vec<String> = [product_name(v, lang), enterprise_name(v, lang)]
        .into_iter()
        .flatten()
        .collect();
    n.extend(v.first_queried_city.clone());
    n
}

/// The spoken verdict, in the terms of SPEC "The verdict": the headline (with product and
/// enterprise names for a genuine item), the query history (first query, or the count and the
/// first query's date and city), each warning, what to do, and the case number.
pub fn verdict(v: &Verdict, lang: Lang) -> Vec<Utterance> {
    let mut s: Vec<Say> = Vec::new();
    let p = |id| Say::Prompt(id);
    match v.authenticity {
        Authenticity::Genuine => {
            s.push(p(PromptId::Genuine));
            if let Some(name) = product_name(v, lang) {
                s.extend([p(PromptId::Product), Say::Name(name)]);
            }
            if let Some(name) = enterprise_name(v, lang) {
                s.extend([p(PromptId::Enterprise), Say::Name(name)]);
            }
        }
        Authenticity::Suspect => {
            s.push(p(PromptId::Suspect));
            if let Some(name) = product_name(v, lang) {
                s.extend([p(PromptId::Product), Say::Name(name)]);
            }
        }
        Authenticity::Unknown if v.family == Some(zhenwei_core::codes::Family::Gtin) => {
            s.push(p(PromptId::ProductBarcode))
        }
        Authenticity::Unknown if v.recheck => s.push(p(PromptId::UnknownRecheck)),
        Authenticity::Unknown => s.push(p(PromptId::UnknownCode)),
        Authenticity::NotACode => s.push(p(PromptId::NotACode)),
    }
    let item = matches!(
        v.authenticity,
        Authenticity::Genuine | Authenticity::Suspect
    ) && v.query_count > 0;
    if item && v.first_query {
        s.push(p(PromptId::FirstQuery));
    } else if item {
        s.extend([
            p(PromptId::CheckedBefore),
            Say::Number(v.query_count),
            p(PromptId::Times),
        ]);
        if let Some(day) = v.first_queried_at.and_then(china_date) {
            s.extend([p(PromptId::FirstCheckedOn), Say::Date(day)]);
        }
        if let Some(city) = &v.first_queried_city {
            s.extend([p(PromptId::FirstCheckedIn), Say::Name(city.clone())]);
        }
        if v.warnings.contains(&Warning::RepeatQuery) {
            s.push(p(PromptId::Beware));
        }
    }
    // Each warning's fixed prompt, then the regulator's own advice behind it (a recall's
    // instructions, …) in the feed's words: rendered when the feed was imported, like product
    // names; until then the fixed prompt alone is spoken.
    for w in &v.warnings {
        if let Some(id) = warning_prompt(*w) {
            s.push(p(id));
            if let Some(advice) = zhenwei_core::advice::notice_advice(v, *w, lang) {
                s.push(Say::Name(advice));
            }
        }
    }
    let counterfeit = v.authenticity == Authenticity::Suspect
        || (v.authenticity == Authenticity::Unknown
            && !v.recheck
            && v.family != Some(zhenwei_core::codes::Family::Gtin));
    if counterfeit {
        s.push(p(PromptId::KeepReceipt));
    }
    if let Some(id) = v.case_id {
        s.extend([p(PromptId::CaseNumber), Say::Digits(id.to_string())]);
    }
    s.into_iter().map(|say| Utterance::new(lang, say)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PromptId::*;

    fn zh(n: i64) -> Vec<PromptId> {
        number(Lang::Zh, n)
    }

    fn en(n: i64) -> Vec<PromptId> {
        number(Lang::En, n)
    }

    #[test]
    fn chinese_numbers() {
        assert_eq!(zh(0), [Num0]);
        assert_eq!(zh(7), [Num7]);
        assert_eq!(zh(10), [Num10]);
        assert_eq!(zh(12), [Num10, Num2]);
        assert_eq!(zh(20), [Num2, Num10]);
        assert_eq!(zh(35), [Num3, Num10, Num5]);
        assert_eq!(zh(100), [Num1, Num100]);
        assert_eq!(zh(105), [Num1, Num100, Num0, Num5]);
        assert_eq!(zh(110), [Num1, Num100, Num1, Num10]);
        assert_eq!(zh(1001), [Num1, Num1000, Num0, Num1]);
        assert_eq!(zh(1010), [Num1, Num1000, Num0, Num1, Num10]);
        assert_eq!(zh(2300), [Num2, Num1000, Num3, Num100]);
        assert_eq!(zh(10_000), [Num1, Num10000]);
        assert_eq!(zh(10_005), [Num1, Num10000, Num0, Num5]);
        assert_eq!(zh(25_300), [Num2, Num10000, Num5, Num1000, Num3, Num100]);
        assert_eq!(zh(120_000), [Num10, Num2, Num10000]);
        assert_eq!(zh(-3), [Num0]);
        assert_eq!(zh(123_456_789).len(), 9);
    }

    #[test]
    fn english_numbers() {
        assert_eq!(en(0), [Num0]);
        assert_eq!(en(13), [Num13]);
        assert_eq!(en(40), [Num40]);
        assert_eq!(en(42), [Num40, Num2]);
        assert_eq!(en(205), [Num2, Num100, Num5]);
        assert_eq!(en(1000), [Num1, Num1000]);
        assert_eq!(en(12_345), [Num12, Num1000, Num3, Num100, Num40, Num5]);
        assert_eq!(en(2_000_001), [Num2, Num1000000, Num1]);
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert_eq!(
            date(Lang::Zh, d),
            [Num2, Num0, Num2, Num6, Year, Month11, Num2, Num10, Num1, Day]
        );
        assert_eq!(
            date(Lang::En, d),
            [Month11, Num20, Num1, Num20, Num20, Num6]
        );
        let d = NaiveDate::from_ymd_opt(2005, 1, 9).unwrap();
        assert_eq!(date(Lang::En, d), [Month1, Num9, Num2, Num1000, Num5]);
        assert_eq!(
            date(Lang::Zh, d),
            [Num2, Num0, Num0, Num5, Year, Month1, Num9, Day]
        );
    }

    #[test]
    fn china_dates_are_utc_plus_8() {
        // 2026-11-20 16:30 UTC is 2026-11-21 00:30 in China.
        assert_eq!(
            china_date(1_795_192_200_000),
            NaiveDate::from_ymd_opt(2026, 11, 21)
        );
        assert_eq!(china_date(i64::MAX), None);
    }

    #[test]
    fn a_recall_is_spoken_with_the_feeds_advice() {
        let notice = zhenwei_core::facts::NoticeFacts {
            id: 1,
            kind: "recall".into(),
            reference: Some("R-2026-001".into()),
            status: "active".into(),
            gtin: None,
            lot: None,
            credit_code: None,
            cert_no: None,
            licence_no: None,
            valid_until: None,
            advice_zh: Some("请立即停止使用并联系经销商退货".into()),
            advice_en: Some("Stop using it and return it to the seller".into()),
        };
        let v = Verdict {
            authenticity: Authenticity::Genuine,
            family: Some(zhenwei_core::codes::Family::Supervision),
            code: None,
            warnings: vec![Warning::Recalled],
            recheck: false,
            query_count: 1,
            first_query: true,
            first_queried_at: None,
            first_queried_city: None,
            product: None,
            enterprise: None,
            batch: None,
            prefix_status: None,
            notices: vec![notice],
            case_id: None,
            case_ids: Vec::new(),
            message: String::new(),
            lang: Lang::En,
            error: None,
            event_id: 1,
            queried_at: 0,
        };
        let said: Vec<Say> = verdict(&v, Lang::En).into_iter().map(|u| u.say).collect();
        assert_eq!(
            said,
            [
                Say::Prompt(Genuine),
                Say::Prompt(FirstQuery),
                Say::Prompt(WRecalled),
                Say::Name("Stop using it and return it to the seller".into()),
            ]
        );
        let said: Vec<Say> = verdict(&v, Lang::Zh).into_iter().map(|u| u.say).collect();
        assert_eq!(
            said.last(),
            Some(&Say::Name("请立即停止使用并联系经销商退货".into()))
        );
    }

    #[test]
    fn digits_skip_other_characters() {
        assert_eq!(
            expand(Lang::Zh, &Say::Digits("1 0-9x".into())),
            [Digit1, Digit0, Digit9]
        );
    }
}
