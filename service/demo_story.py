"""The demo's story: what the loopback sites show at the start and what appears on them over
time — everyday posts about 江州理工大学, and three incidents that get reposted across sites."""

from __future__ import annotations

from dataclasses import dataclass

# The incident the demo is built around; the same words reposted on four sites make one
# near-duplicate cluster, which is what the `spread` rule and a case are about.
POISONING = (
    "江州理工大学三食堂昨天晚饭后，我们宿舍四个人全部上吐下泻，校医院说是疑似食物中毒，"
    "现在医院走廊里全是拉肚子的同学，学校到现在都没有任何通知，太让人寒心了！"
)
WATER = (
    "江州理工大学12号宿舍楼已经停水两天了，后勤处电话一直打不通，洗澡上厕所都成问题，"
    "宿管只会说在修，到底什么时候来水？"
)
LEAK = (
    "江理工高数期末考试前一天晚上，试题就在好几个QQ群里流传，和今天的卷子一模一样，"
    "认真复习的同学太吃亏了，强烈要求教务处彻查泄题！"
)
THEFT = "江州理工大学东校区宿舍又发生失窃，刚买的笔记本电脑被偷了，门禁形同虚设，保卫处管不管？"


@dataclass(frozen=True)
class Event:
    """One thing published at ``at`` seconds after the demo starts (at normal speed).

    ``site`` is forum, tieba, news, feed or liuyan; ``action`` is thread or reply (forum,
    tieba, liuyan), article or comment (news), item (feed). ``key`` names the thread or article
    a reply or comment belongs to; ``note`` is what the demo prints when it appears.
    """

    at: float
    site: str
    action: str
    key: str
    author: str
    text: str
    title: str = ""
    note: str = ""


# What the sites already show when the demo starts (published "earlier today").
SEED: list[Event] = [
    Event(
        0,
        "forum",
        "thread",
        "rules",
        "江理版务",
        "请大家文明发帖，涉及个人隐私的帖子将被删除。",
        "【版规】江理生活版发帖须知",
    ),
    Event(
        0,
        "forum",
        "thread",
        "course",
        "大二学弟",
        "江州理工大学的选课系统今天又卡了，有没有学长知道下学期的选修课哪个老师给分好？",
        "求推荐下学期的选修课",
    ),
    Event(
        0,
        "forum",
        "reply",
        "course",
        "计科老学长",
        "推荐杨老师的人工智能导论，讲得很清楚，作业也不多。",
    ),
    Event(
        0,
        "tieba",
        "thread",
        "transfer",
        "高三备考中",
        "想报江州理工大学的计算机学院，求问转专业难吗？",
        "求问江州理工大学转专业难吗",
    ),
    Event(
        0,
        "tieba",
        "reply",
        "transfer",
        "软件工程1班",
        "大一绩点排前百分之十就可以申请，不算特别难。",
    ),
    Event(
        0,
        "news",
        "article",
        "fair",
        "江州新闻网",
        "本报讯 11月20日，江州理工大学2026年秋季校园招聘会在体育馆举行，三百余家企业进校招聘，"
        "提供岗位八千余个。\n学校就业指导中心负责人介绍，今年进校企业数量比去年增长一成，"
        "其中智能制造和新能源企业占比明显上升。学校还为家庭经济困难毕业生提供求职补贴，"
        "并开设简历门诊和模拟面试，帮助同学们提前做好准备。\n"
        "不少同学表示，招聘会信息发布及时，现场秩序良好，希望学校多举办这样的专场活动。"
        "据悉，学校下月还将举办研究生专场和实习专场招聘会。",
        "江州理工大学举办2026年秋季校园招聘会 三百余家企业进校",
    ),
    Event(0, "news", "comment", "fair", "江理校友", "母校越来越好了，给学弟学妹们加油！"),
    Event(
        0,
        "feed",
        "item",
        "fair-rb",
        "江州日报",
        "江州理工大学秋季招聘会吸引三百余家企业，提供岗位八千余个。",
        "江州理工大学秋季招聘会提供岗位八千余个",
    ),
    Event(
        0,
        "liuyan",
        "thread",
        "bus",
        "东区居民",
        "建议开通江州理工大学东校区到地铁站的公交专线，早高峰学生和居民都很挤。",
        "建议增开江州理工大学东校区公交线路",
    ),
]

# What appears over time. Times are for normal speed; `--fast` divides them.
TIMELINE: list[Event] = [
    Event(
        20,
        "forum",
        "thread",
        "poison",
        "东区吃货",
        POISONING,
        "三食堂吃完集体拉肚子，是不是食物中毒了？",
        "论坛出现负面帖：三食堂疑似食物中毒",
    ),
    Event(
        45,
        "forum",
        "reply",
        "poison",
        "材料学院小王",
        "我们班也有三个人半夜吐了，都是吃的三食堂麻辣香锅，食堂的东西肯定变质了。",
        note="论坛跟帖：更多同学称腹泻呕吐",
    ),
    Event(
        70,
        "tieba",
        "thread",
        "poison",
        "江理路人甲",
        "转自校园论坛：" + POISONING,
        "江州理工大学三食堂食物中毒？已经有同学进校医院了",
        "贴吧转发：三食堂食物中毒",
    ),
    Event(
        95,
        "news",
        "article",
        "poison",
        "江州新闻网",
        "本报讯 有网友在论坛和贴吧发帖称，江州理工大学多名学生在三食堂就餐后"
        "出现腹泻、呕吐等症状。\n"
        "记者从学校了解到，目前已有十余名学生到校医院就诊，校方表示已封存相关食材并送检，"
        "三食堂暂停营业，市场监管部门已介入调查。\n"
        "有学生对记者说，事发至今学校没有发布任何通知，同学们只能在群里互相打听消息，"
        "希望学校尽快公布检测结果，并说明后续的餐饮安排。也有家长表示担心，"
        "希望学校加强对承包食堂的监管，不要让类似的事情再次发生。",
        "江州理工大学多名学生疑似食物中毒 三食堂暂停营业",
        "新闻网报道：多名学生疑似食物中毒",
    ),
    Event(
        115, "news", "comment", "poison", "江州网友", POISONING, note="新闻评论区转发食物中毒原帖"
    ),
    Event(
        135,
        "liuyan",
        "thread",
        "poison",
        "学生家长",
        POISONING,
        "孩子在江州理工大学食堂吃坏肚子，学校不管？",
        "市民留言板：家长反映食物中毒",
    ),
    Event(
        150,
        "feed",
        "item",
        "poison-rb",
        "江州日报",
        "江州理工大学回应学生疑似食物中毒：三食堂已停业整改，食材已送第三方检测。",
        "江州理工大学回应学生疑似食物中毒",
        "江州日报 RSS：校方回应",
    ),
    Event(
        165, "tieba", "reply", "poison", "江理老生", "转：" + POISONING, note="贴吧跟帖再次转发原帖"
    ),
    Event(
        185,
        "forum",
        "thread",
        "water",
        "12号楼住户",
        WATER,
        "12号宿舍楼停水两天，后勤到底管不管？",
        "论坛负面帖：12号宿舍楼停水",
    ),
    Event(
        210,
        "tieba",
        "thread",
        "water",
        "北区舍长",
        "转：" + WATER,
        "江州理工大学宿舍停水两天没人管",
        "贴吧转发：宿舍停水",
    ),
    Event(
        240,
        "forum",
        "thread",
        "leak",
        "数学不好的我",
        LEAK,
        "期末泄题？江理工高数题考前就在群里流传",
        "论坛负面帖：期末泄题",
    ),
    Event(
        265,
        "tieba",
        "thread",
        "leak",
        "吃瓜群众",
        "转帖：" + LEAK,
        "江理工高数期末泄题，教务处管不管",
        "贴吧转发：期末泄题",
    ),
    Event(285, "tieba", "reply", "leak", "匿名用户", "转：" + LEAK, note="贴吧跟帖再次转发泄题帖"),
    Event(
        300,
        "forum",
        "thread",
        "theft",
        "东区电脑没了",
        THEFT,
        "东校区宿舍失窃，笔记本电脑被偷",
        "论坛负面帖：宿舍失窃",
    ),
    Event(
        320,
        "forum",
        "reply",
        "theft",
        "隔壁宿舍",
        "我们楼上周也有同学失窃，手机和钱包都被偷了，江州理工大学东校区宿舍的门禁根本没用。",
        note="论坛跟帖：又一起宿舍失窃",
    ),
    Event(
        340,
        "tieba",
        "thread",
        "theft",
        "江理保卫关注者",
        "江州理工大学东校区宿舍连续失窃，已经有好几个同学电脑被偷，希望保卫处加强巡逻。",
        "江州理工大学东校区宿舍连续失窃",
        "贴吧：宿舍连续失窃",
    ),
    Event(
        360,
        "forum",
        "reply",
        "course",
        "大三学姐",
        "选课建议早点抢，热门课一分钟就满。",
        note="论坛日常跟帖",
    ),
    Event(
        380,
        "liuyan",
        "reply",
        "bus",
        "江州公交集团",
        "您好，您的建议已收到，我们将结合客流调查研究开通专线。",
        note="留言板：公交公司回复建议",
    ),
]
