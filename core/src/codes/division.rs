//! Administrative division codes (行政区划代码, GB/T 2260): where a place is in China.
//!
//! A division code has six digits read as three pairs: province-level division (省/自治区/
//! 直辖市/特别行政区), prefecture-level city (地级市/自治州/地区/盟) and county-level division
//! (区/县/县级市). A code ending in `00` names a city, one ending in `0000` a province:
//! `330203` is 海曙区 (Haishu district) in `330200` 宁波市 (Ningbo) in `330000` 浙江省
//! (Zhejiang). The four municipalities (北京 11, 天津 12, 上海 31, 重庆 50) are province-level
//! cities; their districts sit under a nominal city code such as `310100`.
//!
//! zhenwei uses division codes to say where a query happened ("first queried in 宁波") and to
//! route cases to the market-supervision office in charge, by longest matching prefix
//! (`330203` → `3302` → `33` → national). Names come from a small embedded table: every
//! province-level division, every prefecture-level division, and the districts of the
//! municipalities and of a few large cities; other codes fall back to their city's or
//! province's name.

use std::fmt;
use std::str::FromStr;

use super::text::fold_width;

/// Province-level codes (first two digits) in use: 31 provinces, autonomous regions and
/// municipalities, plus Taiwan (71), Hong Kong (81) and Macao (82).
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// The four municipalities directly under the central government.
const MUNICIPALITIES: [&str; 4] = ["11", "12", "31", "50"];

/// A syntactically valid administrative division code: six ASCII digits whose first two name
/// a real province-level division.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

/// Why a division code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionError {
    /// Not six characters long (after trimming).
    #[error("an administrative division code has 6 digits, but {len} characters were given")]
    BadLength {
        /// Number of characters given.
        len: usize,
    },
    /// A character that is not an ASCII digit (after width folding).
    #[error("an administrative division code has only digits, but character {position} is {ch:?}")]
    NotDigit {
        /// The offending character.
        ch: char,
        /// 1-based position in the trimmed input.
        position: usize,
    },
    /// The first two digits do not name a province-level division.
    #[error(
        "{code} is not an administrative division code: {province} is not a province-level \
         division (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82)",
        province = code.get(..2).unwrap_or_default()
    )]
    UnknownProvince {
        /// The six digits given.
        code: String,
    },
}

impl DivisionError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            DivisionError::BadLength { .. } | DivisionError::NotDigit { .. } => {
                "division_bad_format"
            }
            DivisionError::UnknownProvince { .. } => "division_unknown_province",
        }
    }
}

impl DivisionCode {
    /// Parse a division code: full-width digits are folded and surrounding whitespace trimmed;
    /// the rest must be exactly six ASCII digits whose first two name a province-level
    /// division (so `000000` is rejected). The code need not be in the name table.
    pub fn parse(s: &str) -> Result<DivisionCode, DivisionError> {
        let folded = fold_width(s);
        let t = folded.trim();
        if let Some((i, ch)) = t.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(DivisionError::NotDigit {
                ch,
                position: i + 1,
            });
        }
        if t.len() != 6 {
            return Err(DivisionError::BadLength { len: t.len() });
        }
        let province = t.get(..2).unwrap_or_default();
        if !PROVINCES.contains(&province) {
            return Err(DivisionError::UnknownProvince {
                code: t.to_string(),
            });
        }
        Ok(DivisionCode(t.to_string()))
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn part(&self, end: usize) -> &str {
        self.0.get(..end).unwrap_or_default()
    }

    /// The province-level division containing this one: `PP0000`.
    pub fn province(&self) -> DivisionCode {
        DivisionCode(format!("{}0000", self.part(2)))
    }

    /// The prefecture-level division containing this one: `PPCC00`. For a municipality's
    /// district this is the nominal city, e.g. `310104` → `310100`; for a province code it is
    /// the province itself.
    pub fn city(&self) -> DivisionCode {
        DivisionCode(format!("{}00", self.part(4)))
    }

    /// True for a province-level code (`PP0000`).
    pub fn is_province(&self) -> bool {
        self.0.ends_with("0000")
    }

    /// True for a prefecture-level code (`PPCC00` with `CC` ≠ `00`).
    pub fn is_city(&self) -> bool {
        self.0.ends_with("00") && !self.is_province()
    }

    /// True when the province is one of the four municipalities (北京, 天津, 上海, 重庆).
    pub fn is_municipality(&self) -> bool {
        MUNICIPALITIES.contains(&self.part(2))
    }

    /// Prefixes for longest-match routing, longest first: county `330203` →
    /// `["330203", "3302", "33"]`; city `330200` → `["3302", "33"]`; province `330000` →
    /// `["33"]`. The empty (national) prefix is left to the caller.
    pub fn routing_prefixes(&self) -> Vec<String> {
        if self.is_province() {
            vec![self.part(2).to_string()]
        } else if self.is_city() {
            vec![self.part(4).to_string(), self.part(2).to_string()]
        } else {
            vec![
                self.0.clone(),
                self.part(4).to_string(),
                self.part(2).to_string(),
            ]
        }
    }

    /// The most specific table entry for this code: the code itself, else its city, else its
    /// province.
    fn place(&self) -> Option<&'static Place> {
        lookup(&self.0)
            .or_else(|| lookup(&self.city().0))
            .or_else(|| lookup(&self.province().0))
    }

    /// Full Chinese name of the place (e.g. `海曙区`, `宁波市`, `浙江省`), falling back to the
    /// city's, then the province's name when the exact code is not in the table.
    pub fn name_zh(&self) -> Option<&'static str> {
        self.place().map(|p| p.zh)
    }

    /// English (pinyin) name of the place (e.g. `Haishu`, `Ningbo`, `Zhejiang`), with the same
    /// fallback as [`DivisionCode::name_zh`].
    pub fn name_en(&self) -> Option<&'static str> {
        self.place().map(|p| p.en)
    }

    /// Coarse place shown to consumers ("first queried in 宁波"): the short name of the city
    /// (`宁波` / `Ningbo`); for a municipality, the municipality (`上海` / `Shanghai`). When the
    /// city is not in the table (e.g. a county-level city administered directly by its
    /// province) or the code is province-level, the province's short name.
    pub fn city_name(&self, lang_en: bool) -> Option<&'static str> {
        let place = if self.is_municipality() {
            lookup(&self.province().0)
        } else {
            lookup(&self.city().0).or_else(|| lookup(&self.province().0))
        };
        place.map(|p| if lang_en { p.en } else { p.short_zh() })
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DivisionCode {
    type Err = DivisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DivisionCode::parse(s)
    }
}

impl TryFrom<String> for DivisionCode {
    type Error = DivisionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DivisionCode::parse(&s)
    }
}

impl From<DivisionCode> for String {
    fn from(d: DivisionCode) -> String {
        d.0
    }
}

impl AsRef<str> for DivisionCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One row of the name table.
struct Place {
    /// Six-digit code.
    code: &'static str,
    /// Full Chinese name (`宁波市`, `海曙区`).
    zh: &'static str,
    /// Short Chinese name without the `市`/`省` suffix (`宁波`); empty for county-level rows.
    short: &'static str,
    /// English name in pinyin (`Ningbo`).
    en: &'static str,
}

impl Place {
    fn short_zh(&self) -> &'static str {
        if self.short.is_empty() {
            self.zh
        } else {
            self.short
        }
    }
}

const fn e(code: &'static str, zh: &'static str, short: &'static str, en: &'static str) -> Place {
    Place {
        code,
        zh,
        short,
        en,
    }
}

fn lookup(code: &str) -> Option<&'static Place> {
    PLACES
        .binary_search_by(|p| p.code.cmp(code))
        .ok()
        .and_then(|i| PLACES.get(i))
}

/// Name table, sorted by code. Codes and names follow GB/T 2260 as published by the Ministry
/// of Civil Affairs (checked against the National Bureau of Statistics' 2023 division list):
/// all 34 province-level divisions, all 333 prefecture-level divisions, and the districts of
/// 北京, 天津, 上海, 杭州, 宁波, 苏州, 广州 and 深圳.
static PLACES: &[Place] = &[
    e("110000", "北京市", "北京", "Beijing"),
    e("110101", "东城区", "", "Dongcheng"),
    e("110102", "西城区", "", "Xicheng"),
    e("110105", "朝阳区", "", "Chaoyang"),
    e("110106", "丰台区", "", "Fengtai"),
    e("110107", "石景山区", "", "Shijingshan"),
    e("110108", "海淀区", "", "Haidian"),
    e("110109", "门头沟区", "", "Mentougou"),
    e("110111", "房山区", "", "Fangshan"),
    e("110112", "通州区", "", "Tongzhou"),
    e("110113", "顺义区", "", "Shunyi"),
    e("110114", "昌平区", "", "Changping"),
    e("110115", "大兴区", "", "Daxing"),
    e("110116", "怀柔区", "", "Huairou"),
    e("110117", "平谷区", "", "Pinggu"),
    e("110118", "密云区", "", "Miyun"),
    e("110119", "延庆区", "", "Yanqing"),
    e("120000", "天津市", "天津", "Tianjin"),
    e("120101", "和平区", "", "Heping"),
    e("120102", "河东区", "", "Hedong"),
    e("120103", "河西区", "", "Hexi"),
    e("120104", "南开区", "", "Nankai"),
    e("120105", "河北区", "", "Hebei"),
    e("120106", "红桥区", "", "Hongqiao"),
    e("120110", "东丽区", "", "Dongli"),
    e("120111", "西青区", "", "Xiqing"),
    e("120112", "津南区", "", "Jinnan"),
    e("120113", "北辰区", "", "Beichen"),
    e("120114", "武清区", "", "Wuqing"),
    e("120115", "宝坻区", "", "Baodi"),
    e("120116", "滨海新区", "", "Binhai"),
    e("120117", "宁河区", "", "Ninghe"),
    e("120118", "静海区", "", "Jinghai"),
    e("120119", "蓟州区", "", "Jizhou"),
    e("130000", "河北省", "河北", "Hebei"),
    e("130100", "石家庄市", "石家庄", "Shijiazhuang"),
    e("130200", "唐山市", "唐山", "Tangshan"),
    e("130300", "秦皇岛市", "秦皇岛", "Qinhuangdao"),
    e("130400", "邯郸市", "邯郸", "Handan"),
    e("130500", "邢台市", "邢台", "Xingtai"),
    e("130600", "保定市", "保定", "Baoding"),
    e("130700", "张家口市", "张家口", "Zhangjiakou"),
    e("130800", "承德市", "承德", "Chengde"),
    e("130900", "沧州市", "沧州", "Cangzhou"),
    e("131000", "廊坊市", "廊坊", "Langfang"),
    e("131100", "衡水市", "衡水", "Hengshui"),
    e("140000", "山西省", "山西", "Shanxi"),
    e("140100", "太原市", "太原", "Taiyuan"),
    e("140200", "大同市", "大同", "Datong"),
    e("140300", "阳泉市", "阳泉", "Yangquan"),
    e("140400", "长治市", "长治", "Changzhi"),
    e("140500", "晋城市", "晋城", "Jincheng"),
    e("140600", "朔州市", "朔州", "Shuozhou"),
    e("140700", "晋中市", "晋中", "Jinzhong"),
    e("140800", "运城市", "运城", "Yuncheng"),
    e("140900", "忻州市", "忻州", "Xinzhou"),
    e("141000", "临汾市", "临汾", "Linfen"),
    e("141100", "吕梁市", "吕梁", "Lvliang"),
    e("150000", "内蒙古自治区", "内蒙古", "Inner Mongolia"),
    e("150100", "呼和浩特市", "呼和浩特", "Hohhot"),
    e("150200", "包头市", "包头", "Baotou"),
    e("150300", "乌海市", "乌海", "Wuhai"),
    e("150400", "赤峰市", "赤峰", "Chifeng"),
    e("150500", "通辽市", "通辽", "Tongliao"),
    e("150600", "鄂尔多斯市", "鄂尔多斯", "Ordos"),
    e("150700", "呼伦贝尔市", "呼伦贝尔", "Hulunbuir"),
    e("150800", "巴彦淖尔市", "巴彦淖尔", "Bayannur"),
    e("150900", "乌兰察布市", "乌兰察布", "Ulanqab"),
    e("152200", "兴安盟", "兴安盟", "Hinggan"),
    e("152500", "锡林郭勒盟", "锡林郭勒", "Xilingol"),
    e("152900", "阿拉善盟", "阿拉善", "Alxa"),
    e("210000", "辽宁省", "辽宁", "Liaoning"),
    e("210100", "沈阳市", "沈阳", "Shenyang"),
    e("210200", "大连市", "大连", "Dalian"),
    e("210300", "鞍山市", "鞍山", "Anshan"),
    e("210400", "抚顺市", "抚顺", "Fushun"),
    e("210500", "本溪市", "本溪", "Benxi"),
    e("210600", "丹东市", "丹东", "Dandong"),
    e("210700", "锦州市", "锦州", "Jinzhou"),
    e("210800", "营口市", "营口", "Yingkou"),
    e("210900", "阜新市", "阜新", "Fuxin"),
    e("211000", "辽阳市", "辽阳", "Liaoyang"),
    e("211100", "盘锦市", "盘锦", "Panjin"),
    e("211200", "铁岭市", "铁岭", "Tieling"),
    e("211300", "朝阳市", "朝阳", "Chaoyang"),
    e("211400", "葫芦岛市", "葫芦岛", "Huludao"),
    e("220000", "吉林省", "吉林", "Jilin"),
    e("220100", "长春市", "长春", "Changchun"),
    e("220200", "吉林市", "吉林", "Jilin"),
    e("220300", "四平市", "四平", "Siping"),
    e("220400", "辽源市", "辽源", "Liaoyuan"),
    e("220500", "通化市", "通化", "Tonghua"),
    e("220600", "白山市", "白山", "Baishan"),
    e("220700", "松原市", "松原", "Songyuan"),
    e("220800", "白城市", "白城", "Baicheng"),
    e("222400", "延边朝鲜族自治州", "延边", "Yanbian"),
    e("230000", "黑龙江省", "黑龙江", "Heilongjiang"),
    e("230100", "哈尔滨市", "哈尔滨", "Harbin"),
    e("230200", "齐齐哈尔市", "齐齐哈尔", "Qiqihar"),
    e("230300", "鸡西市", "鸡西", "Jixi"),
    e("230400", "鹤岗市", "鹤岗", "Hegang"),
    e("230500", "双鸭山市", "双鸭山", "Shuangyashan"),
    e("230600", "大庆市", "大庆", "Daqing"),
    e("230700", "伊春市", "伊春", "Yichun"),
    e("230800", "佳木斯市", "佳木斯", "Jiamusi"),
    e("230900", "七台河市", "七台河", "Qitaihe"),
    e("231000", "牡丹江市", "牡丹江", "Mudanjiang"),
    e("231100", "黑河市", "黑河", "Heihe"),
    e("231200", "绥化市", "绥化", "Suihua"),
    e("232700", "大兴安岭地区", "大兴安岭", "Da Hinggan Ling"),
    e("310000", "上海市", "上海", "Shanghai"),
    e("310101", "黄浦区", "", "Huangpu"),
    e("310104", "徐汇区", "", "Xuhui"),
    e("310105", "长宁区", "", "Changning"),
    e("310106", "静安区", "", "Jing'an"),
    e("310107", "普陀区", "", "Putuo"),
    e("310109", "虹口区", "", "Hongkou"),
    e("310110", "杨浦区", "", "Yangpu"),
    e("310112", "闵行区", "", "Minhang"),
    e("310113", "宝山区", "", "Baoshan"),
    e("310114", "嘉定区", "", "Jiading"),
    e("310115", "浦东新区", "", "Pudong"),
    e("310116", "金山区", "", "Jinshan"),
    e("310117", "松江区", "", "Songjiang"),
    e("310118", "青浦区", "", "Qingpu"),
    e("310120", "奉贤区", "", "Fengxian"),
    e("310151", "崇明区", "", "Chongming"),
    e("320000", "江苏省", "江苏", "Jiangsu"),
    e("320100", "南京市", "南京", "Nanjing"),
    e("320200", "无锡市", "无锡", "Wuxi"),
    e("320300", "徐州市", "徐州", "Xuzhou"),
    e("320400", "常州市", "常州", "Changzhou"),
    e("320500", "苏州市", "苏州", "Suzhou"),
    e("320505", "虎丘区", "", "Huqiu"),
    e("320506", "吴中区", "", "Wuzhong"),
    e("320507", "相城区", "", "Xiangcheng"),
    e("320508", "姑苏区", "", "Gusu"),
    e("320509", "吴江区", "", "Wujiang"),
    e("320581", "常熟市", "", "Changshu"),
    e("320582", "张家港市", "", "Zhangjiagang"),
    e("320583", "昆山市", "", "Kunshan"),
    e("320585", "太仓市", "", "Taicang"),
    e("320600", "南通市", "南通", "Nantong"),
    e("320700", "连云港市", "连云港", "Lianyungang"),
    e("320800", "淮安市", "淮安", "Huai'an"),
    e("320900", "盐城市", "盐城", "Yancheng"),
    e("321000", "扬州市", "扬州", "Yangzhou"),
    e("321100", "镇江市", "镇江", "Zhenjiang"),
    e("321200", "泰州市", "泰州", "Taizhou"),
    e("321300", "宿迁市", "宿迁", "Suqian"),
    e("330000", "浙江省", "浙江", "Zhejiang"),
    e("330100", "杭州市", "杭州", "Hangzhou"),
    e("330102", "上城区", "", "Shangcheng"),
    e("330105", "拱墅区", "", "Gongshu"),
    e("330106", "西湖区", "", "Xihu"),
    e("330108", "滨江区", "", "Binjiang"),
    e("330109", "萧山区", "", "Xiaoshan"),
    e("330110", "余杭区", "", "Yuhang"),
    e("330111", "富阳区", "", "Fuyang"),
    e("330112", "临安区", "", "Lin'an"),
    e("330113", "临平区", "", "Linping"),
    e("330114", "钱塘区", "", "Qiantang"),
    e("330122", "桐庐县", "", "Tonglu"),
    e("330127", "淳安县", "", "Chun'an"),
    e("330182", "建德市", "", "Jiande"),
    e("330200", "宁波市", "宁波", "Ningbo"),
    e("330203", "海曙区", "", "Haishu"),
    e("330205", "江北区", "", "Jiangbei"),
    e("330206", "北仑区", "", "Beilun"),
    e("330211", "镇海区", "", "Zhenhai"),
    e("330212", "鄞州区", "", "Yinzhou"),
    e("330213", "奉化区", "", "Fenghua"),
    e("330225", "象山县", "", "Xiangshan"),
    e("330226", "宁海县", "", "Ninghai"),
    e("330281", "余姚市", "", "Yuyao"),
    e("330282", "慈溪市", "", "Cixi"),
    e("330300", "温州市", "温州", "Wenzhou"),
    e("330400", "嘉兴市", "嘉兴", "Jiaxing"),
    e("330500", "湖州市", "湖州", "Huzhou"),
    e("330600", "绍兴市", "绍兴", "Shaoxing"),
    e("330700", "金华市", "金华", "Jinhua"),
    e("330800", "衢州市", "衢州", "Quzhou"),
    e("330900", "舟山市", "舟山", "Zhoushan"),
    e("331000", "台州市", "台州", "Taizhou"),
    e("331100", "丽水市", "丽水", "Lishui"),
    e("340000", "安徽省", "安徽", "Anhui"),
    e("340100", "合肥市", "合肥", "Hefei"),
    e("340200", "芜湖市", "芜湖", "Wuhu"),
    e("340300", "蚌埠市", "蚌埠", "Bengbu"),
    e("340400", "淮南市", "淮南", "Huainan"),
    e("340500", "马鞍山市", "马鞍山", "Ma'anshan"),
    e("340600", "淮北市", "淮北", "Huaibei"),
    e("340700", "铜陵市", "铜陵", "Tongling"),
    e("340800", "安庆市", "安庆", "Anqing"),
    e("341000", "黄山市", "黄山", "Huangshan"),
    e("341100", "滁州市", "滁州", "Chuzhou"),
    e("341200", "阜阳市", "阜阳", "Fuyang"),
    e("341300", "宿州市", "宿州", "Suzhou"),
    e("341500", "六安市", "六安", "Lu'an"),
    e("341600", "亳州市", "亳州", "Bozhou"),
    e("341700", "池州市", "池州", "Chizhou"),
    e("341800", "宣城市", "宣城", "Xuancheng"),
    e("350000", "福建省", "福建", "Fujian"),
    e("350100", "福州市", "福州", "Fuzhou"),
    e("350200", "厦门市", "厦门", "Xiamen"),
    e("350300", "莆田市", "莆田", "Putian"),
    e("350400", "三明市", "三明", "Sanming"),
    e("350500", "泉州市", "泉州", "Quanzhou"),
    e("350600", "漳州市", "漳州", "Zhangzhou"),
    e("350700", "南平市", "南平", "Nanping"),
    e("350800", "龙岩市", "龙岩", "Longyan"),
    e("350900", "宁德市", "宁德", "Ningde"),
    e("360000", "江西省", "江西", "Jiangxi"),
    e("360100", "南昌市", "南昌", "Nanchang"),
    e("360200", "景德镇市", "景德镇", "Jingdezhen"),
    e("360300", "萍乡市", "萍乡", "Pingxiang"),
    e("360400", "九江市", "九江", "Jiujiang"),
    e("360500", "新余市", "新余", "Xinyu"),
    e("360600", "鹰潭市", "鹰潭", "Yingtan"),
    e("360700", "赣州市", "赣州", "Ganzhou"),
    e("360800", "吉安市", "吉安", "Ji'an"),
    e("360900", "宜春市", "宜春", "Yichun"),
    e("361000", "抚州市", "抚州", "Fuzhou"),
    e("361100", "上饶市", "上饶", "Shangrao"),
    e("370000", "山东省", "山东", "Shandong"),
    e("370100", "济南市", "济南", "Jinan"),
    e("370200", "青岛市", "青岛", "Qingdao"),
    e("370300", "淄博市", "淄博", "Zibo"),
    e("370400", "枣庄市", "枣庄", "Zaozhuang"),
    e("370500", "东营市", "东营", "Dongying"),
    e("370600", "烟台市", "烟台", "Yantai"),
    e("370700", "潍坊市", "潍坊", "Weifang"),
    e("370800", "济宁市", "济宁", "Jining"),
    e("370900", "泰安市", "泰安", "Tai'an"),
    e("371000", "威海市", "威海", "Weihai"),
    e("371100", "日照市", "日照", "Rizhao"),
    e("371300", "临沂市", "临沂", "Linyi"),
    e("371400", "德州市", "德州", "Dezhou"),
    e("371500", "聊城市", "聊城", "Liaocheng"),
    e("371600", "滨州市", "滨州", "Binzhou"),
    e("371700", "菏泽市", "菏泽", "Heze"),
    e("410000", "河南省", "河南", "Henan"),
    e("410100", "郑州市", "郑州", "Zhengzhou"),
    e("410200", "开封市", "开封", "Kaifeng"),
    e("410300", "洛阳市", "洛阳", "Luoyang"),
    e("410400", "平顶山市", "平顶山", "Pingdingshan"),
    e("410500", "安阳市", "安阳", "Anyang"),
    e("410600", "鹤壁市", "鹤壁", "Hebi"),
    e("410700", "新乡市", "新乡", "Xinxiang"),
    e("410800", "焦作市", "焦作", "Jiaozuo"),
    e("410900", "濮阳市", "濮阳", "Puyang"),
    e("411000", "许昌市", "许昌", "Xuchang"),
    e("411100", "漯河市", "漯河", "Luohe"),
    e("411200", "三门峡市", "三门峡", "Sanmenxia"),
    e("411300", "南阳市", "南阳", "Nanyang"),
    e("411400", "商丘市", "商丘", "Shangqiu"),
    e("411500", "信阳市", "信阳", "Xinyang"),
    e("411600", "周口市", "周口", "Zhoukou"),
    e("411700", "驻马店市", "驻马店", "Zhumadian"),
    e("420000", "湖北省", "湖北", "Hubei"),
    e("420100", "武汉市", "武汉", "Wuhan"),
    e("420200", "黄石市", "黄石", "Huangshi"),
    e("420300", "十堰市", "十堰", "Shiyan"),
    e("420500", "宜昌市", "宜昌", "Yichang"),
    e("420600", "襄阳市", "襄阳", "Xiangyang"),
    e("420700", "鄂州市", "鄂州", "Ezhou"),
    e("420800", "荆门市", "荆门", "Jingmen"),
    e("420900", "孝感市", "孝感", "Xiaogan"),
    e("421000", "荆州市", "荆州", "Jingzhou"),
    e("421100", "黄冈市", "黄冈", "Huanggang"),
    e("421200", "咸宁市", "咸宁", "Xianning"),
    e("421300", "随州市", "随州", "Suizhou"),
    e("422800", "恩施土家族苗族自治州", "恩施", "Enshi"),
    e("430000", "湖南省", "湖南", "Hunan"),
    e("430100", "长沙市", "长沙", "Changsha"),
    e("430200", "株洲市", "株洲", "Zhuzhou"),
    e("430300", "湘潭市", "湘潭", "Xiangtan"),
    e("430400", "衡阳市", "衡阳", "Hengyang"),
    e("430500", "邵阳市", "邵阳", "Shaoyang"),
    e("430600", "岳阳市", "岳阳", "Yueyang"),
    e("430700", "常德市", "常德", "Changde"),
    e("430800", "张家界市", "张家界", "Zhangjiajie"),
    e("430900", "益阳市", "益阳", "Yiyang"),
    e("431000", "郴州市", "郴州", "Chenzhou"),
    e("431100", "永州市", "永州", "Yongzhou"),
    e("431200", "怀化市", "怀化", "Huaihua"),
    e("431300", "娄底市", "娄底", "Loudi"),
    e("433100", "湘西土家族苗族自治州", "湘西", "Xiangxi"),
    e("440000", "广东省", "广东", "Guangdong"),
    e("440100", "广州市", "广州", "Guangzhou"),
    e("440103", "荔湾区", "", "Liwan"),
    e("440104", "越秀区", "", "Yuexiu"),
    e("440105", "海珠区", "", "Haizhu"),
    e("440106", "天河区", "", "Tianhe"),
    e("440111", "白云区", "", "Baiyun"),
    e("440112", "黄埔区", "", "Huangpu"),
    e("440113", "番禺区", "", "Panyu"),
    e("440114", "花都区", "", "Huadu"),
    e("440115", "南沙区", "", "Nansha"),
    e("440117", "从化区", "", "Conghua"),
    e("440118", "增城区", "", "Zengcheng"),
    e("440200", "韶关市", "韶关", "Shaoguan"),
    e("440300", "深圳市", "深圳", "Shenzhen"),
    e("440303", "罗湖区", "", "Luohu"),
    e("440304", "福田区", "", "Futian"),
    e("440305", "南山区", "", "Nanshan"),
    e("440306", "宝安区", "", "Bao'an"),
    e("440307", "龙岗区", "", "Longgang"),
    e("440308", "盐田区", "", "Yantian"),
    e("440309", "龙华区", "", "Longhua"),
    e("440310", "坪山区", "", "Pingshan"),
    e("440311", "光明区", "", "Guangming"),
    e("440400", "珠海市", "珠海", "Zhuhai"),
    e("440500", "汕头市", "汕头", "Shantou"),
    e("440600", "佛山市", "佛山", "Foshan"),
    e("440700", "江门市", "江门", "Jiangmen"),
    e("440800", "湛江市", "湛江", "Zhanjiang"),
    e("440900", "茂名市", "茂名", "Maoming"),
    e("441200", "肇庆市", "肇庆", "Zhaoqing"),
    e("441300", "惠州市", "惠州", "Huizhou"),
    e("441400", "梅州市", "梅州", "Meizhou"),
    e("441500", "汕尾市", "汕尾", "Shanwei"),
    e("441600", "河源市", "河源", "Heyuan"),
    e("441700", "阳江市", "阳江", "Yangjiang"),
    e("441800", "清远市", "清远", "Qingyuan"),
    e("441900", "东莞市", "东莞", "Dongguan"),
    e("442000", "中山市", "中山", "Zhongshan"),
    e("445100", "潮州市", "潮州", "Chaozhou"),
    e("445200", "揭阳市", "揭阳", "Jieyang"),
    e("445300", "云浮市", "云浮", "Yunfu"),
    e("450000", "广西壮族自治区", "广西", "Guangxi"),
    e("450100", "南宁市", "南宁", "Nanning"),
    e("450200", "柳州市", "柳州", "Liuzhou"),
    e("450300", "桂林市", "桂林", "Guilin"),
    e("450400", "梧州市", "梧州", "Wuzhou"),
    e("450500", "北海市", "北海", "Beihai"),
    e("450600", "防城港市", "防城港", "Fangchenggang"),
    e("450700", "钦州市", "钦州", "Qinzhou"),
    e("450800", "贵港市", "贵港", "Guigang"),
    e("450900", "玉林市", "玉林", "Yulin"),
    e("451000", "百色市", "百色", "Baise"),
    e("451100", "贺州市", "贺州", "Hezhou"),
    e("451200", "河池市", "河池", "Hechi"),
    e("451300", "来宾市", "来宾", "Laibin"),
    e("451400", "崇左市", "崇左", "Chongzuo"),
    e("460000", "海南省", "海南", "Hainan"),
    e("460100", "海口市", "海口", "Haikou"),
    e("460200", "三亚市", "三亚", "Sanya"),
    e("460300", "三沙市", "三沙", "Sansha"),
    e("460400", "儋州市", "儋州", "Danzhou"),
    e("500000", "重庆市", "重庆", "Chongqing"),
    e("510000", "四川省", "四川", "Sichuan"),
    e("510100", "成都市", "成都", "Chengdu"),
    e("510300", "自贡市", "自贡", "Zigong"),
    e("510400", "攀枝花市", "攀枝花", "Panzhihua"),
    e("510500", "泸州市", "泸州", "Luzhou"),
    e("510600", "德阳市", "德阳", "Deyang"),
    e("510700", "绵阳市", "绵阳", "Mianyang"),
    e("510800", "广元市", "广元", "Guangyuan"),
    e("510900", "遂宁市", "遂宁", "Suining"),
    e("511000", "内江市", "内江", "Neijiang"),
    e("511100", "乐山市", "乐山", "Leshan"),
    e("511300", "南充市", "南充", "Nanchong"),
    e("511400", "眉山市", "眉山", "Meishan"),
    e("511500", "宜宾市", "宜宾", "Yibin"),
    e("511600", "广安市", "广安", "Guang'an"),
    e("511700", "达州市", "达州", "Dazhou"),
    e("511800", "雅安市", "雅安", "Ya'an"),
    e("511900", "巴中市", "巴中", "Bazhong"),
    e("512000", "资阳市", "资阳", "Ziyang"),
    e("513200", "阿坝藏族羌族自治州", "阿坝", "Ngawa"),
    e("513300", "甘孜藏族自治州", "甘孜", "Garze"),
    e("513400", "凉山彝族自治州", "凉山", "Liangshan"),
    e("520000", "贵州省", "贵州", "Guizhou"),
    e("520100", "贵阳市", "贵阳", "Guiyang"),
    e("520200", "六盘水市", "六盘水", "Liupanshui"),
    e("520300", "遵义市", "遵义", "Zunyi"),
    e("520400", "安顺市", "安顺", "Anshun"),
    e("520500", "毕节市", "毕节", "Bijie"),
    e("520600", "铜仁市", "铜仁", "Tongren"),
    e("522300", "黔西南布依族苗族自治州", "黔西南", "Qianxinan"),
    e("522600", "黔东南苗族侗族自治州", "黔东南", "Qiandongnan"),
    e("522700", "黔南布依族苗族自治州", "黔南", "Qiannan"),
    e("530000", "云南省", "云南", "Yunnan"),
    e("530100", "昆明市", "昆明", "Kunming"),
    e("530300", "曲靖市", "曲靖", "Qujing"),
    e("530400", "玉溪市", "玉溪", "Yuxi"),
    e("530500", "保山市", "保山", "Baoshan"),
    e("530600", "昭通市", "昭通", "Zhaotong"),
    e("530700", "丽江市", "丽江", "Lijiang"),
    e("530800", "普洱市", "普洱", "Pu'er"),
    e("530900", "临沧市", "临沧", "Lincang"),
    e("532300", "楚雄彝族自治州", "楚雄", "Chuxiong"),
    e("532500", "红河哈尼族彝族自治州", "红河", "Honghe"),
    e("532600", "文山壮族苗族自治州", "文山", "Wenshan"),
    e("532800", "西双版纳傣族自治州", "西双版纳", "Xishuangbanna"),
    e("532900", "大理白族自治州", "大理", "Dali"),
    e("533100", "德宏傣族景颇族自治州", "德宏", "Dehong"),
    e("533300", "怒江傈僳族自治州", "怒江", "Nujiang"),
    e("533400", "迪庆藏族自治州", "迪庆", "Diqing"),
    e("540000", "西藏自治区", "西藏", "Xizang"),
    e("540100", "拉萨市", "拉萨", "Lhasa"),
    e("540200", "日喀则市", "日喀则", "Shigatse"),
    e("540300", "昌都市", "昌都", "Qamdo"),
    e("540400", "林芝市", "林芝", "Nyingchi"),
    e("540500", "山南市", "山南", "Shannan"),
    e("540600", "那曲市", "那曲", "Nagqu"),
    e("542500", "阿里地区", "阿里", "Ngari"),
    e("610000", "陕西省", "陕西", "Shaanxi"),
    e("610100", "西安市", "西安", "Xi'an"),
    e("610200", "铜川市", "铜川", "Tongchuan"),
    e("610300", "宝鸡市", "宝鸡", "Baoji"),
    e("610400", "咸阳市", "咸阳", "Xianyang"),
    e("610500", "渭南市", "渭南", "Weinan"),
    e("610600", "延安市", "延安", "Yan'an"),
    e("610700", "汉中市", "汉中", "Hanzhong"),
    e("610800", "榆林市", "榆林", "Yulin"),
    e("610900", "安康市", "安康", "Ankang"),
    e("611000", "商洛市", "商洛", "Shangluo"),
    e("620000", "甘肃省", "甘肃", "Gansu"),
    e("620100", "兰州市", "兰州", "Lanzhou"),
    e("620200", "嘉峪关市", "嘉峪关", "Jiayuguan"),
    e("620300", "金昌市", "金昌", "Jinchang"),
    e("620400", "白银市", "白银", "Baiyin"),
    e("620500", "天水市", "天水", "Tianshui"),
    e("620600", "武威市", "武威", "Wuwei"),
    e("620700", "张掖市", "张掖", "Zhangye"),
    e("620800", "平凉市", "平凉", "Pingliang"),
    e("620900", "酒泉市", "酒泉", "Jiuquan"),
    e("621000", "庆阳市", "庆阳", "Qingyang"),
    e("621100", "定西市", "定西", "Dingxi"),
    e("621200", "陇南市", "陇南", "Longnan"),
    e("622900", "临夏回族自治州", "临夏", "Linxia"),
    e("623000", "甘南藏族自治州", "甘南", "Gannan"),
    e("630000", "青海省", "青海", "Qinghai"),
    e("630100", "西宁市", "西宁", "Xining"),
    e("630200", "海东市", "海东", "Haidong"),
    e("632200", "海北藏族自治州", "海北", "Haibei"),
    e("632300", "黄南藏族自治州", "黄南", "Huangnan"),
    e("632500", "海南藏族自治州", "海南州", "Hainan (Qinghai)"),
    e("632600", "果洛藏族自治州", "果洛", "Golog"),
    e("632700", "玉树藏族自治州", "玉树", "Yushu"),
    e("632800", "海西蒙古族藏族自治州", "海西", "Haixi"),
    e("640000", "宁夏回族自治区", "宁夏", "Ningxia"),
    e("640100", "银川市", "银川", "Yinchuan"),
    e("640200", "石嘴山市", "石嘴山", "Shizuishan"),
    e("640300", "吴忠市", "吴忠", "Wuzhong"),
    e("640400", "固原市", "固原", "Guyuan"),
    e("640500", "中卫市", "中卫", "Zhongwei"),
    e("650000", "新疆维吾尔自治区", "新疆", "Xinjiang"),
    e("650100", "乌鲁木齐市", "乌鲁木齐", "Urumqi"),
    e("650200", "克拉玛依市", "克拉玛依", "Karamay"),
    e("650400", "吐鲁番市", "吐鲁番", "Turpan"),
    e("650500", "哈密市", "哈密", "Hami"),
    e("652300", "昌吉回族自治州", "昌吉", "Changji"),
    e("652700", "博尔塔拉蒙古自治州", "博尔塔拉", "Bortala"),
    e("652800", "巴音郭楞蒙古自治州", "巴音郭楞", "Bayingolin"),
    e("652900", "阿克苏地区", "阿克苏", "Aksu"),
    e("653000", "克孜勒苏柯尔克孜自治州", "克孜勒苏", "Kizilsu"),
    e("653100", "喀什地区", "喀什", "Kashgar"),
    e("653200", "和田地区", "和田", "Hotan"),
    e("654000", "伊犁哈萨克自治州", "伊犁", "Ili"),
    e("654200", "塔城地区", "塔城", "Tacheng"),
    e("654300", "阿勒泰地区", "阿勒泰", "Altay"),
    e("710000", "台湾省", "台湾", "Taiwan"),
    e("810000", "香港特别行政区", "香港", "Hong Kong"),
    e("820000", "澳门特别行政区", "澳门", "Macao"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parse_accepts_six_digits_of_a_real_province() {
        assert_eq!(d("330203").as_str(), "330203");
        assert_eq!(d(" 330203\n").as_str(), "330203");
        assert_eq!(d("３３０２０３").as_str(), "330203");
        assert_eq!(d("\u{3000}310104").as_str(), "310104");
        for p in PROVINCES {
            assert!(DivisionCode::parse(&format!("{p}0000")).is_ok(), "{p}");
        }
        // Not in the name table, but well-formed.
        assert_eq!(d("339999").as_str(), "339999");
        assert_eq!("440305".parse::<DivisionCode>(), Ok(d("440305")));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            DivisionCode::parse("33020"),
            Err(DivisionError::BadLength { len: 5 })
        );
        assert_eq!(
            DivisionCode::parse("3302031"),
            Err(DivisionError::BadLength { len: 7 })
        );
        assert_eq!(
            DivisionCode::parse(""),
            Err(DivisionError::BadLength { len: 0 })
        );
        assert_eq!(
            DivisionCode::parse("3302 03"),
            Err(DivisionError::NotDigit {
                ch: ' ',
                position: 5
            })
        );
        assert_eq!(
            DivisionCode::parse("宁波"),
            Err(DivisionError::NotDigit {
                ch: '宁',
                position: 1
            })
        );
        let e = DivisionCode::parse("33020x").unwrap_err();
        assert_eq!(e.code(), "division_bad_format");
        assert_eq!(
            e.to_string(),
            "an administrative division code has only digits, but character 6 is 'x'"
        );
        let e = DivisionCode::parse("33020").unwrap_err();
        assert_eq!(
            e.to_string(),
            "an administrative division code has 6 digits, but 5 characters were given"
        );
        for bad in [
            "000000", "100000", "160000", "240000", "380000", "470000", "550000", "660000",
            "700000", "720000", "800000", "830000", "910000", "990101",
        ] {
            let e = DivisionCode::parse(bad).unwrap_err();
            assert_eq!(
                e,
                DivisionError::UnknownProvince {
                    code: bad.to_string()
                }
            );
            assert_eq!(e.code(), "division_unknown_province");
        }
        assert_eq!(
            DivisionCode::parse("990101").unwrap_err().to_string(),
            "990101 is not an administrative division code: 99 is not a province-level \
             division (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82)"
        );
    }

    #[test]
    fn hierarchy() {
        let county = d("330203");
        assert_eq!(county.province(), d("330000"));
        assert_eq!(county.city(), d("330200"));
        assert!(!county.is_province() && !county.is_city());
        let city = d("330200");
        assert!(city.is_city() && !city.is_province());
        assert_eq!(city.city(), city);
        let province = d("330000");
        assert!(province.is_province() && !province.is_city());
        assert_eq!(province.city(), province);
        assert_eq!(province.province(), province);
        let district = d("310104");
        assert_eq!(district.city(), d("310100"));
        assert_eq!(district.province(), d("310000"));
        assert!(district.is_municipality());
        assert!(!county.is_municipality());
        assert!(d("310100").is_city());
    }

    #[test]
    fn routing_prefixes_longest_first() {
        assert_eq!(d("330203").routing_prefixes(), ["330203", "3302", "33"]);
        assert_eq!(d("330200").routing_prefixes(), ["3302", "33"]);
        assert_eq!(d("330000").routing_prefixes(), ["33"]);
        assert_eq!(d("310104").routing_prefixes(), ["310104", "3101", "31"]);
        assert_eq!(d("310100").routing_prefixes(), ["3101", "31"]);
    }

    #[test]
    fn demo_counties_have_exact_names() {
        for (code, zh, en) in [
            ("330203", "海曙区", "Haishu"),
            ("330106", "西湖区", "Xihu"),
            ("310104", "徐汇区", "Xuhui"),
            ("440305", "南山区", "Nanshan"),
            ("110105", "朝阳区", "Chaoyang"),
            ("330212", "鄞州区", "Yinzhou"),
            ("320505", "虎丘区", "Huqiu"),
        ] {
            assert_eq!(d(code).name_zh(), Some(zh), "{code}");
            assert_eq!(d(code).name_en(), Some(en), "{code}");
        }
    }

    #[test]
    fn names_fall_back_to_city_then_province() {
        assert_eq!(d("330200").name_zh(), Some("宁波市"));
        assert_eq!(d("330200").name_en(), Some("Ningbo"));
        assert_eq!(d("330000").name_zh(), Some("浙江省"));
        assert_eq!(d("330000").name_en(), Some("Zhejiang"));
        // A county not in the table: its city.
        assert_eq!(d("330304").name_zh(), Some("温州市"));
        assert_eq!(d("330304").name_en(), Some("Wenzhou"));
        // A city not in the table: its province.
        assert_eq!(d("339900").name_zh(), Some("浙江省"));
        assert_eq!(d("429004").name_en(), Some("Hubei"));
        // A municipality's nominal city: the municipality.
        assert_eq!(d("310100").name_zh(), Some("上海市"));
        assert_eq!(d("500229").name_zh(), Some("重庆市"));
        assert_eq!(d("810000").name_en(), Some("Hong Kong"));
    }

    #[test]
    fn city_names_for_consumers() {
        // County.
        assert_eq!(d("330203").city_name(false), Some("宁波"));
        assert_eq!(d("330203").city_name(true), Some("Ningbo"));
        assert_eq!(d("320505").city_name(false), Some("苏州"));
        // City.
        assert_eq!(d("330200").city_name(false), Some("宁波"));
        assert_eq!(d("441900").city_name(true), Some("Dongguan"));
        assert_eq!(d("222400").city_name(false), Some("延边"));
        // Municipality district and nominal city.
        assert_eq!(d("310104").city_name(false), Some("上海"));
        assert_eq!(d("310104").city_name(true), Some("Shanghai"));
        assert_eq!(d("110105").city_name(false), Some("北京"));
        assert_eq!(d("110105").city_name(true), Some("Beijing"));
        assert_eq!(d("500229").city_name(false), Some("重庆"));
        assert_eq!(d("120100").city_name(true), Some("Tianjin"));
        // No city row: the province.
        assert_eq!(d("429004").city_name(false), Some("湖北"));
        assert_eq!(d("330000").city_name(true), Some("Zhejiang"));
        assert_eq!(d("810000").city_name(false), Some("香港"));
        // Not confused with the province of the same name.
        assert_eq!(d("632521").city_name(false), Some("海南州"));
    }

    #[test]
    fn big_cities_have_the_right_codes() {
        for (code, short, en) in [
            ("3302", "宁波", "Ningbo"),
            ("3303", "温州", "Wenzhou"),
            ("3205", "苏州", "Suzhou"),
            ("4403", "深圳", "Shenzhen"),
            ("4401", "广州", "Guangzhou"),
            ("4419", "东莞", "Dongguan"),
            ("4406", "佛山", "Foshan"),
            ("3502", "厦门", "Xiamen"),
            ("3702", "青岛", "Qingdao"),
            ("2102", "大连", "Dalian"),
            ("3301", "杭州", "Hangzhou"),
            ("5101", "成都", "Chengdu"),
            ("4201", "武汉", "Wuhan"),
            ("6101", "西安", "Xi'an"),
            ("6501", "乌鲁木齐", "Urumqi"),
            ("5401", "拉萨", "Lhasa"),
        ] {
            let c = d(&format!("{code}00"));
            assert_eq!(c.city_name(false), Some(short), "{code}");
            assert_eq!(c.city_name(true), Some(en), "{code}");
        }
    }

    #[test]
    fn table_is_sorted_and_consistent() {
        assert!(
            PLACES.windows(2).all(|w| w[0].code < w[1].code),
            "sorted, no duplicates"
        );
        let mut provinces = 0;
        let mut cities = 0;
        for p in PLACES {
            let c = d(p.code);
            assert_eq!(c.as_str(), p.code);
            assert!(!p.zh.is_empty() && !p.en.is_empty(), "{}", p.code);
            assert!(
                p.en.is_ascii(),
                "{}: English names stay GSM-7/ASCII",
                p.code
            );
            assert!(
                lookup(&c.province().0).is_some(),
                "{}: province row",
                p.code
            );
            if c.is_province() {
                provinces += 1;
            }
            if c.is_city() {
                cities += 1;
            }
            if c.is_province() || c.is_city() {
                assert!(!p.short.is_empty(), "{}: short name", p.code);
                assert!(
                    !p.short.ends_with('市') && !p.short.ends_with('省'),
                    "{}",
                    p.code
                );
            } else {
                assert!(p.short.is_empty(), "{}", p.code);
                // Every county row sits under a city row, or in a municipality.
                assert!(
                    c.is_municipality() || lookup(&c.city().0).is_some(),
                    "{}",
                    p.code
                );
            }
        }
        assert_eq!(provinces, 34);
        assert_eq!(provinces, PROVINCES.len());
        assert!(cities >= 333, "{cities}");
        assert!(PROVINCES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn serde_round_trip_validates() {
        let c = d("330203");
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"330203\"");
        assert_eq!(serde_json::from_str::<DivisionCode>(&j).unwrap(), c);
        assert!(serde_json::from_str::<DivisionCode>("\"000000\"").is_err());
        assert!(serde_json::from_str::<DivisionCode>("\"33020\"").is_err());
        assert!(d("110105") < d("330203"));
    }

    proptest! {
        #[test]
        fn nothing_panics(s in any::<String>()) {
            if let Ok(c) = DivisionCode::parse(&s) {
                let _ = (c.name_zh(), c.name_en(), c.city_name(true), c.city_name(false));
                let _ = c.routing_prefixes();
            }
            let _ = DivisionCode::parse(&s).map_err(|e| (e.code(), e.to_string()));
        }

        #[test]
        fn six_digits_parse_iff_province_is_real(s in "[0-9]{6}") {
            let r = DivisionCode::parse(&s);
            prop_assert_eq!(r.is_ok(), PROVINCES.contains(&&s[..2]));
            if let Ok(c) = r {
                prop_assert!(c.name_zh().is_some());
                prop_assert!(c.name_en().is_some());
                prop_assert!(c.city_name(false).is_some());
                prop_assert!(c.city_name(true).is_some());
                let prefixes = c.routing_prefixes();
                prop_assert!(!prefixes.is_empty());
                prop_assert!(prefixes.windows(2).all(|w| w[0].len() > w[1].len()));
                for p in &prefixes {
                    prop_assert!(s.starts_with(p.as_str()));
                }
                prop_assert_eq!(prefixes.last().map(String::as_str), Some(&s[..2]));
                prop_assert!(c.province().is_province());
                prop_assert!(c.city().is_city() || c.city().is_province());
            }
        }
    }
}
