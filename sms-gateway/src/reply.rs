//! # Replies: a verdict in one short message
//!
//! A reply is read on a phone in a shop, often on a handset that shows concatenated messages
//! badly, so the essentials of a verdict must fit **one segment**: 70 UCS-2 characters for
//! Chinese, 160 GSM-7 septets for English (extension characters such as `[` count two; see
//! [`crate::coding::measure`]). Each reply is built from *essential* parts, always sent, and
//! *optional* parts, added in order only while the text still fits one segment; a reply whose
//! essentials alone are longer (three codes at once, a long recall notice) goes out concatenated.
//!
//! Everything comes from the core's [`Verdict`] — authenticity, warnings, query count, first
//! query time and city, product, notices, case number — in the short forms an SMS needs; the
//! long advice text ([`zhenwei_core::advice`]) is for screens. English replies use only GSM-7
//! characters so they stay in the cheaper coding. Chinese is the default; English when the
//! message was clearly English ([`crate::parse`]).

use zhenwei_core::advice::{fixed_warning, Form};
use zhenwei_core::clock::local_time;
use zhenwei_core::codes::Family;
use zhenwei_core::{Authenticity, Lang, Verdict, Warning};

use crate::coding;

/// Builds a reply from essential and optional parts.
struct Builder {
    text: String,
    sep: &'static str,
}

impl Builder {
    fn new(lang: Lang) -> Builder {
        Builder {
            text: String::new(),
            sep: if lang.is_en() { " " } else { "" },
        }
    }

    fn joined(&self, part: &str) -> String {
        if self.text.is_empty() || part.is_empty() {
            format!("{}{part}", self.text)
        } else {
            format!("{}{}{part}", self.text, self.sep)
        }
    }

    /// Always added.
    fn must(&mut self, part: &str) {
        self.text = self.joined(part);
    }

    /// Added only if the whole still fits one segment.
    fn may(&mut self, part: &str) {
        let next = self.joined(part);
        if coding::measure(&next).is_single() {
            self.text = next;
        }
    }

    fn done(self) -> String {
        self.text
    }
}

fn product(v: &Verdict, lang: Lang) -> Option<String> {
    v.product.as_ref().map(|p| match lang {
        Lang::En => p.name_en.clone().unwrap_or_else(|| p.name.clone()),
        Lang::Zh => p.name.clone(),
    })
}

fn enterprise(v: &Verdict, lang: Lang) -> Option<String> {
    v.enterprise.as_ref().map(|e| match lang {
        Lang::En => e.name_en.clone().unwrap_or_else(|| e.name.clone()),
        Lang::Zh => e.name.clone(),
    })
}

fn notice_advice(v: &Verdict, kind: &str, lang: Lang) -> Option<String> {
    v.notices
        .iter()
        .find(|n| n.kind == kind)
        .and_then(|n| match lang {
            Lang::En => n.advice_en.clone(),
            Lang::Zh => n.advice_zh.clone(),
        })
}

/// "queried 3 times, first 2026-11-02 14:05 in 宁波".
fn history(v: &Verdict, lang: Lang) -> String {
    let at = v.first_queried_at.map(local_time);
    match (lang, at, v.first_queried_city.as_deref()) {
        (Lang::Zh, Some(at), Some(city)) => {
            format!("已被查询{}次，首次{at}在{city}。", v.query_count)
        }
        (Lang::Zh, Some(at), None) => format!("已被查询{}次，首次{at}。", v.query_count),
        (Lang::Zh, None, _) => format!("已被查询{}次。", v.query_count),
        (Lang::En, Some(at), Some(city)) => {
            format!("Checked {} times, first {at} in {city}.", v.query_count)
        }
        (Lang::En, Some(at), None) => format!("Checked {} times, first {at}.", v.query_count),
        (Lang::En, None, _) => format!("Checked {} times.", v.query_count),
    }
}

/// The short reason a warning gives, in an SMS (the fixed texts are the short forms of
/// `zhenwei_core::advice`'s one table).
fn warning(w: Warning, v: &Verdict, lang: Lang) -> String {
    let en = lang.is_en();
    let expiry = v
        .batch
        .as_ref()
        .and_then(|b| b.expiry_date.clone())
        .unwrap_or_default();
    match (w, en) {
        (Warning::RepeatQuery, _) => history(v, lang),
        (Warning::ExcessiveQueries, false) => {
            format!("此码已被查询{}次，疑似被复制。", v.query_count)
        }
        (Warning::ExcessiveQueries, true) => format!(
            "This code was checked {} times; it may have been copied.",
            v.query_count
        ),
        (Warning::Expired, false) => format!("已过有效期（{expiry}），请勿使用。"),
        (Warning::Expired, true) => format!("Expired on {expiry}; do not use it."),
        (Warning::Recalled, false) => match notice_advice(v, "recall", lang) {
            Some(a) => format!("该批次已召回：{a}"),
            None => "该批次已召回，请停止使用。".into(),
        },
        (Warning::Recalled, true) => match notice_advice(v, "recall", lang) {
            Some(a) => format!("This batch is recalled: {a}"),
            None => "This batch is recalled; stop using it.".into(),
        },
        // The fixed ones: the short forms of core's one table.
        (w, _) => fixed_warning(w, Form::Short, lang)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn how_to_report(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "举报请回复JB+防伪码，或拨打12315。",
        Lang::En => "To report, reply JB + code, or call 12315.",
    }
}

fn case_number(id: i64, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("案件号{id}。"),
        Lang::En => format!("Case {id}."),
    }
}

/// How many digits a "bad digit count" error names, from its message ("19 digits is no code…").
fn digit_count(v: &Verdict) -> Option<usize> {
    let e = v.error.as_ref().filter(|e| e.code == "bad_digit_count")?;
    let n: String = e.message.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok()
}

/// The reply to one verified code.
pub fn verdict(v: &Verdict, lang: Lang) -> String {
    let mut b = Builder::new(lang);
    let en = lang.is_en();
    let name = product(v, lang);
    match v.authenticity {
        Authenticity::Genuine => {
            let name = name.unwrap_or_default();
            b.must(&if en {
                format!("Genuine: {name}.")
            } else {
                format!("正品：{name}。")
            });
            if v.first_query {
                b.must(if en {
                    "First check of this code."
                } else {
                    "首次查询。"
                });
            }
            for w in &v.warnings {
                b.must(&warning(*w, v, lang));
            }
            if v.warnings.contains(&Warning::RepeatQuery) {
                b.may(if en {
                    "If that was not you, beware."
                } else {
                    "如非本人查询，请谨慎。"
                });
            }
            if let Some(e) = enterprise(v, lang) {
                b.may(&if en {
                    format!("Made by {}.", e.trim_end_matches('.'))
                } else {
                    format!("生产企业：{e}。")
                });
            }
        }
        Authenticity::Suspect => {
            b.must(&match (name, en) {
                (Some(p), false) => format!("疑似假冒：{p}。"),
                (Some(p), true) => format!("Suspected fake: {p}."),
                (None, false) => "疑似假冒。".into(),
                (None, true) => "Suspected fake.".into(),
            });
            for w in &v.warnings {
                b.must(&warning(*w, v, lang));
            }
            b.must(how_to_report(lang));
            if let Some(id) = v.case_id {
                b.may(&case_number(id, lang));
            }
        }
        Authenticity::Unknown if v.family == Some(Family::Gtin) => {
            b.must(&match (name, en) {
                (Some(p), false) => format!("这是商品条码（{p}），不能证明真伪。"),
                (Some(p), true) => {
                    format!("This is a product barcode ({p}); it cannot prove an item genuine.")
                }
                (None, false) => "这是商品条码，不能证明真伪。".into(),
                (None, true) => {
                    "This is a product barcode; it cannot prove an item genuine.".into()
                }
            });
            for w in &v.warnings {
                b.must(&warning(*w, v, lang));
            }
            b.must(if en {
                "Text the anti-counterfeit code from the label."
            } else {
                "请发送标签上的防伪码。"
            });
        }
        Authenticity::Unknown if v.recheck => {
            b.must(if en {
                "Code not found. Please check it and text it again."
            } else {
                "未查到此码，请核对后重新发送。"
            });
            b.may(if en {
                "If it is still not found, the product may be fake."
            } else {
                "如仍查不到，商品可能是假冒。"
            });
        }
        Authenticity::Unknown => {
            b.must(if en {
                "This code was not issued by us: suspected fake."
            } else {
                "此码不是本系统发放的防伪码，疑似假冒。"
            });
            b.must(how_to_report(lang));
            if let Some(id) = v.case_id {
                b.may(&case_number(id, lang));
            }
        }
        Authenticity::NotACode => {
            b.must(&match (digit_count(v), en) {
                (Some(n), false) => format!("防伪码为20位数字，您发送的是{n}位。"),
                (Some(n), true) => format!("The code has 20 digits; you sent {n}."),
                (None, false) => "无法识别此码。".into(),
                (None, true) => "We could not read this code.".into(),
            });
            b.must(if en {
                "Please check it and text it again."
            } else {
                "请核对后重新发送。"
            });
        }
    }
    b.done()
}

/// The label of one code in a several-code reply: its last four characters.
fn label(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// The reply to a message with one or more codes: one line per code.
pub fn verify(results: &[(String, Verdict)], more: bool, lang: Lang) -> String {
    if let [(_, v)] = results {
        if !more {
            return verdict(v, lang);
        }
    }
    let mut lines: Vec<String> = results
        .iter()
        .map(|(code, v)| match lang {
            Lang::Zh => format!("尾号{}：{}", label(code), verdict(v, lang)),
            Lang::En => format!("..{}: {}", label(code), verdict(v, lang)),
        })
        .collect();
    if more {
        lines.push(match lang {
            Lang::Zh => format!("每条短信最多查询{}个码。", crate::parse::MAX_CODES),
            Lang::En => format!("Up to {} codes per message.", crate::parse::MAX_CODES),
        });
    }
    lines.join("\n")
}

/// The reply to a report: the case number, or how to report when no case could be opened.
pub fn report(v: Option<&Verdict>, lang: Lang) -> String {
    let en = lang.is_en();
    match v.and_then(|v| v.case_id.map(|id| (v, id))) {
        Some((v, id)) => {
            let mut b = Builder::new(lang);
            b.must(&if en {
                format!("Report received, case {id}.")
            } else {
                format!("举报已受理，案件编号{id}。")
            });
            b.may(if en {
                "It goes to the brand owner and market regulator. Thank you."
            } else {
                "我们将转交品牌方和市场监管部门，感谢您的举报。"
            });
            if v.authenticity == Authenticity::Suspect {
                if let Some(w) = v.warnings.iter().find(|w| w.makes_suspect()) {
                    b.may(&warning(*w, v, lang));
                }
            }
            b.done()
        }
        None => {
            let mut b = Builder::new(lang);
            if let Some(v) = v.filter(|v| v.authenticity == Authenticity::NotACode) {
                b.must(&verdict(v, lang));
            }
            b.must(if en {
                "To report a fake, text JB + the code + the shop's name."
            } else {
                "举报请发送：JB+防伪码+店名。"
            });
            b.done()
        }
    }
}

pub fn help(lang: Lang) -> String {
    match lang {
        Lang::Zh => "查真伪：发送防伪码（可带空格）。举报：JB+防伪码+店名。退订提醒：TD。".into(),
        Lang::En => "To check a product, text its code (spaces are fine). To report a fake: JB + code + shop name. To stop reminders: STOP.".into(),
    }
}

pub fn unrecognised(lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("未识别您的短信。{}", help(lang)),
        Lang::En => format!("Sorry, we could not read that. {}", help(lang)),
    }
}

pub fn opted_out(lang: Lang) -> String {
    match lang {
        Lang::Zh => "已退订，不再向您发送提醒短信。查真伪仍可直接发送防伪码。".into(),
        Lang::En => {
            "You will get no more reminders from us. You can still text a code to check it.".into()
        }
    }
}

/// The answer to 开通/START/UNSTOP.
pub fn opted_in(lang: Lang) -> String {
    match lang {
        Lang::Zh => "已重新开通提醒短信，召回等安全提醒将发送到本号码。回复TD退订。".into(),
        Lang::En => "Reminders are back on: recalls and safety notices will reach you. Reply STOP to end them.".into(),
    }
}

pub fn rate_limited(lang: Lang) -> String {
    match lang {
        Lang::Zh => "查询过于频繁，请稍后再试。".into(),
        Lang::En => "Too many messages. Please try again later.".into(),
    }
}

pub fn unavailable(lang: Lang) -> String {
    match lang {
        Lang::Zh => "系统繁忙，请稍后再试。".into(),
        Lang::En => "The service is busy. Please try again later.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhenwei_core::facts::{BatchFacts, EnterpriseFacts, NoticeFacts, ProductFacts};
    use zhenwei_core::verify::CodeError;

    /// 2026-11-02 14:05 in China.
    const FIRST_AT: i64 = 1_793_599_500_000;

    fn genuine() -> Verdict {
        Verdict {
            authenticity: Authenticity::Genuine,
            family: Some(Family::Supervision),
            code: Some("12345678901234567890".into()),
            warnings: vec![],
            recheck: false,
            query_count: 1,
            first_query: true,
            first_queried_at: Some(FIRST_AT),
            first_queried_city: None,
            product: Some(ProductFacts {
                id: 1,
                enterprise_id: 1,
                gtin: "06901234000116".into(),
                name: "婴幼儿配方奶粉".into(),
                name_en: Some("Infant formula".into()),
                spec: None,
                category: None,
                ccc_cert_no: None,
                licence_no: None,
            }),
            enterprise: Some(EnterpriseFacts {
                id: 1,
                name: "宁波甬江食品有限公司".into(),
                name_en: Some("Ningbo Yongjiang Foods Co., Ltd.".into()),
                credit_code: "91330203MA2H00001X".into(),
                division: "330203".into(),
            }),
            batch: Some(BatchFacts {
                id: 1,
                lot: "NB2026A".into(),
                production_date: None,
                expiry_date: Some("2028-11-01".into()),
                made_in: None,
            }),
            prefix_status: None,
            notices: vec![],
            case_id: None,
            case_ids: vec![],
            message: String::new(),
            lang: Lang::Zh,
            error: None,
            event_id: 1,
            queried_at: FIRST_AT,
        }
    }

    fn repeat(n: i64) -> Verdict {
        Verdict {
            query_count: n,
            first_query: false,
            first_queried_city: Some("宁波".into()),
            warnings: vec![Warning::RepeatQuery],
            ..genuine()
        }
    }

    #[track_caller]
    fn one_segment(text: &str, coding: coding::Coding) {
        let m = coding::measure(text);
        assert_eq!(m.coding, coding, "{text}");
        assert_eq!(m.parts, 1, "{text} is {} units", m.units);
    }

    #[test]
    fn genuine_first_query() {
        let zh = verdict(&genuine(), Lang::Zh);
        assert_eq!(
            zh,
            "正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let en = verdict(&genuine(), Lang::En);
        assert_eq!(
            en,
            "Genuine: Infant formula. First check of this code. Made by Ningbo Yongjiang Foods Co., Ltd."
        );
        one_segment(&en, coding::Coding::Gsm7);
    }

    #[test]
    fn genuine_repeat_tells_when_and_where() {
        let zh = verdict(&repeat(3), Lang::Zh);
        assert_eq!(
            zh,
            "正品：婴幼儿配方奶粉。已被查询3次，首次2026-11-02 14:05在宁波。如非本人查询，请谨慎。生产企业：宁波甬江食品有限公司。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let mut v = repeat(3);
        v.first_queried_city = Some("Ningbo".into());
        let en = verdict(&v, Lang::En);
        assert_eq!(
            en,
            "Genuine: Infant formula. Checked 3 times, first 2026-11-02 14:05 in Ningbo. If that was not you, beware. Made by Ningbo Yongjiang Foods Co., Ltd."
        );
        one_segment(&en, coding::Coding::Gsm7);
    }

    #[test]
    fn suspect_says_why_and_how_to_report() {
        let v = Verdict {
            authenticity: Authenticity::Suspect,
            warnings: vec![Warning::NotActivated],
            case_id: Some(42),
            case_ids: vec![42],
            ..genuine()
        };
        let zh = verdict(&v, Lang::Zh);
        assert_eq!(
            zh,
            "疑似假冒：婴幼儿配方奶粉。此码未激活，正规商品不应有此码。举报请回复JB+防伪码，或拨打12315。案件号42。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let en = verdict(&v, Lang::En);
        assert_eq!(
            en,
            "Suspected fake: Infant formula. This code was never activated. To report, reply JB + code, or call 12315. Case 42."
        );
        one_segment(&en, coding::Coding::Gsm7);

        let v = Verdict {
            authenticity: Authenticity::Suspect,
            warnings: vec![Warning::ExcessiveQueries],
            query_count: 6,
            first_query: false,
            ..genuine()
        };
        let zh = verdict(&v, Lang::Zh);
        assert_eq!(
            zh,
            "疑似假冒：婴幼儿配方奶粉。此码已被查询6次，疑似被复制。举报请回复JB+防伪码，或拨打12315。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
    }

    #[test]
    fn a_recall_carries_its_advice() {
        let v = Verdict {
            warnings: vec![Warning::Recalled],
            notices: vec![NoticeFacts {
                id: 1,
                kind: "recall".into(),
                reference: Some("SAMR-2026-0042".into()),
                status: "active".into(),
                gtin: None,
                lot: None,
                credit_code: None,
                cert_no: None,
                licence_no: None,
                valid_until: None,
                advice_zh: Some("请立即停止食用，凭购物凭证到购买处退货。".into()),
                advice_en: Some(
                    "Stop eating it now and return it with your receipt where you bought it."
                        .into(),
                ),
            }],
            ..genuine()
        };
        let zh = verdict(&v, Lang::Zh);
        assert_eq!(
            zh,
            "正品：婴幼儿配方奶粉。首次查询。该批次已召回：请立即停止食用，凭购物凭证到购买处退货。生产企业：宁波甬江食品有限公司。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let en = verdict(&v, Lang::En);
        assert_eq!(en, "Genuine: Infant formula. First check of this code. This batch is recalled: Stop eating it now and return it with your receipt where you bought it.");
        one_segment(&en, coding::Coding::Gsm7);
    }

    #[test]
    fn unknown_and_not_a_code() {
        let unknown = Verdict {
            authenticity: Authenticity::Unknown,
            recheck: true,
            product: None,
            enterprise: None,
            batch: None,
            ..genuine()
        };
        let zh = verdict(&unknown, Lang::Zh);
        assert_eq!(
            zh,
            "未查到此码，请核对后重新发送。如仍查不到，商品可能是假冒。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let confirmed = Verdict {
            recheck: false,
            case_id: Some(7),
            ..unknown.clone()
        };
        assert_eq!(
            verdict(&confirmed, Lang::Zh),
            "此码不是本系统发放的防伪码，疑似假冒。举报请回复JB+防伪码，或拨打12315。案件号7。"
        );
        let nac = Verdict {
            authenticity: Authenticity::NotACode,
            family: None,
            error: Some(CodeError {
                code: "bad_digit_count".into(),
                message: "19 digits is no code: a supervision code has 20 digits".into(),
            }),
            ..unknown
        };
        assert_eq!(
            verdict(&nac, Lang::Zh),
            "防伪码为20位数字，您发送的是19位。请核对后重新发送。"
        );
        assert_eq!(
            verdict(&nac, Lang::En),
            "The code has 20 digits; you sent 19. Please check it and text it again."
        );
    }

    #[test]
    fn several_codes_one_line_each() {
        let text = verify(
            &[
                ("12345678901234567890".into(), genuine()),
                ("11112222333344445555".into(), repeat(2)),
            ],
            false,
            Lang::Zh,
        );
        assert_eq!(
            text,
            "尾号7890：正品：婴幼儿配方奶粉。首次查询。生产企业：宁波甬江食品有限公司。\n尾号5555：正品：婴幼儿配方奶粉。已被查询2次，首次2026-11-02 14:05在宁波。如非本人查询，请谨慎。生产企业：宁波甬江食品有限公司。"
        );
        assert_eq!(coding::measure(&text).parts, 2);
    }

    #[test]
    fn reports_confirm_the_case_number() {
        let v = Verdict {
            case_id: Some(12),
            case_ids: vec![12],
            ..genuine()
        };
        let zh = report(Some(&v), Lang::Zh);
        assert_eq!(
            zh,
            "举报已受理，案件编号12。我们将转交品牌方和市场监管部门，感谢您的举报。"
        );
        one_segment(&zh, coding::Coding::Ucs2);
        let en = report(Some(&v), Lang::En);
        assert_eq!(
            en,
            "Report received, case 12. It goes to the brand owner and market regulator. Thank you."
        );
        one_segment(&en, coding::Coding::Gsm7);
        assert_eq!(report(None, Lang::Zh), "举报请发送：JB+防伪码+店名。");
    }

    #[test]
    fn fixed_replies_fit_one_segment() {
        for lang in [Lang::Zh, Lang::En] {
            let coding = if lang.is_en() {
                coding::Coding::Gsm7
            } else {
                coding::Coding::Ucs2
            };
            for text in [
                help(lang),
                unrecognised(lang),
                opted_out(lang),
                rate_limited(lang),
                unavailable(lang),
                report(None, lang),
            ] {
                one_segment(&text, coding);
            }
        }
        assert_eq!(
            unrecognised(Lang::Zh),
            "未识别您的短信。查真伪：发送防伪码（可带空格）。举报：JB+防伪码+店名。退订提醒：TD。"
        );
    }
}
