//! The ingest bench's generated news items (`benches/ingest.rs`), shared with the
//! classification profile (`examples/classify_prof.rs`) so that both read the same text:
//! routine county news of 500–700 characters, one item in twelve a casualty report when
//! asked for.

/// Places of the generated text (towns of a fictional county).
const TOWNS: [&str; 6] = ["青石镇", "柳河镇", "东岭乡", "北关街道", "南湖镇", "西山乡"];

/// Sentences of routine local news, combined per item (none twice in one item, so
/// that a record's compression is that of real text, not of repeats).
const SENTENCES: [&str; 16] = [
    "为进一步做好冬季供暖保障工作，县住建局组织专人对全县供热管网进行了逐段巡查，及时处置了发现的问题。",
    "近日，县农业农村局召开秋冬种生产推进会，要求各乡镇抓住有利时机，确保小麦播种面积稳定、质量提升。",
    "县人社局开展“就业援助月”专项活动，为就业困难人员送政策、送岗位、送服务，帮助其尽快实现就业。",
    "镇党委组织机关干部深入村组走访群众，面对面听取意见建议，现场解决群众反映的道路照明和饮水问题。",
    "县市场监管局对辖区农贸市场开展食品安全检查，重点检查进货查验、索证索票和冷链食品管理制度落实情况。",
    "为丰富群众文化生活，县文化馆组织文艺小分队送戏下乡，在各村文化广场演出地方戏曲和歌舞节目。",
    "县教体局部署中小学校冬季安全教育工作，要求各校开展防火、防滑、防一氧化碳中毒等专题教育。",
    "街道社区卫生服务中心为辖区六十五岁以上老年人免费体检，并建立健康档案，提供上门随访服务。",
    "县交通运输局加快推进农村公路提档升级工程，目前已完成路基施工，预计年底前全线贯通。",
    "县应急管理局组织开展森林防火应急演练，检验预案的可操作性，提高队伍协同作战和快速反应能力。",
    "县图书馆新建的少儿阅览室正式对外开放，藏书两万余册，每周末还将举办亲子阅读和绘本讲读活动。",
    "针对近期气温骤降，县气象台发布寒潮蓝色预警，提醒广大群众注意添衣保暖，设施农业做好防冻措施。",
    "县税务局推出“非接触式”办税缴费服务，纳税人足不出户即可在网上办理申报、缴款和发票领用业务。",
    "镇卫生院联合县医院专家开展义诊进社区活动，为居民提供血压血糖测量、慢病咨询和用药指导服务。",
    "县供电公司对城区老旧小区配电设施实施改造，更换变压器和低压线路，有效解决了居民用电电压偏低问题。",
    "县民政局开展冬季困难群众走访慰问，为低保户、特困供养人员和孤寡老人送去棉被、米面油等生活物资。",
];

/// A casualty report (the alarm one item in twelve carries).
const ALARM: &str =
    "一在建厂房发生坍塌事故，造成3人死亡、2人受伤，伤者已送医救治，事故原因正在调查。";

/// Title and body of item `n` of source `source`, and whether it is a casualty report
/// (with `alarms`, one in twelve is).
pub fn item(source: usize, n: usize, alarms: bool) -> (String, String, bool) {
    let town = TOWNS[(source + n) % TOWNS.len()];
    let alarm = alarms && (source * 7 + n) % 12 == 0;
    let mut body = String::new();
    if alarm {
        body.push_str(town);
        body.push_str(ALARM);
    }
    // 500–700 characters of routine sentences, starting at a different one per item.
    let target = 500 + (source * 31 + n * 17) % 200;
    let first = source + n * 3;
    for i in first..first + SENTENCES.len() {
        if body.chars().count() >= target {
            break;
        }
        body.push_str(SENTENCES[i % SENTENCES.len()]);
    }
    let title = if alarm {
        format!("{town}一在建厂房坍塌致3人死亡（第{n}号）")
    } else {
        let first = SENTENCES[(source + n) % SENTENCES.len()];
        let head: String = first.chars().skip(5).take(18).collect();
        format!("{town}{head}{n}")
    };
    (title, body, alarm)
}
