/* names.c - the demo chain's properties, exchange rates and guest names. */
#include "demo.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

const demo_property demo_properties[] = {
    {"lisbon-riverside", "Lisbon", "EUR", "LIS", 12000, 32000},
    {"porto-ribeira", "Porto", "EUR", "OPO", 9000, 24000},
    {"london-southbank", "London", "GBP", "LHR", 16000, 42000},
    {"dubai-marina", "Dubai", "AED", "DXB", 65000, 190000},
    {"shanghai-bund", "Shanghai", "CNY", "PVG", 95000, 260000},
    {"newyork-midtown", "New York", "USD", "JFK", 22000, 55000},
};
const size_t demo_nproperties = N(demo_properties);

/* One unit in the tenant's base currency (EUR), from the chain's first day. */
const demo_rate demo_rates[] = {
    {"GBP", "1.17"}, {"AED", "0.25"}, {"CNY", "0.13"}, {"USD", "0.92"}};
const size_t demo_nrates = N(demo_rates);

static const demo_name pt_first[] = {
    {"Ana", "ana"},       {"João", "joao"},   {"Inês", "ines"},
    {"Tiago", "tiago"},   {"Beatriz", "beatriz"}, {"Gonçalo", "goncalo"},
    {"Sofia", "sofia"},   {"Miguel", "miguel"}, {"Leonor", "leonor"},
    {"Rui", "rui"}};
static const demo_name pt_last[] = {
    {"Silva", "silva"},       {"Conceição", "conceicao"},
    {"Gonçalves", "goncalves"}, {"Ferreira", "ferreira"},
    {"Simões", "simoes"},     {"Costa", "costa"},
    {"Araújo", "araujo"},     {"Magalhães", "magalhaes"}};
static const demo_name en_first[] = {
    {"Oliver", "oliver"}, {"Emma", "emma"},     {"James", "james"},
    {"Charlotte", "charlotte"}, {"Harry", "harry"}, {"Amelia", "amelia"},
    {"George", "george"}, {"Isla", "isla"}};
static const demo_name en_last[] = {
    {"Smith", "smith"},   {"Jones", "jones"},   {"Taylor", "taylor"},
    {"Brown", "brown"},   {"Wilson", "wilson"}, {"Evans", "evans"},
    {"O'Brien", "obrien"}, {"Walker", "walker"}};
static const demo_name fr_first[] = {
    {"Amélie", "amelie"}, {"Chloé", "chloe"}, {"Hugo", "hugo"},
    {"Élodie", "elodie"}, {"Théo", "theo"},   {"Louis", "louis"}};
static const demo_name fr_last[] = {
    {"Lefèvre", "lefevre"}, {"Dubois", "dubois"}, {"Mercier", "mercier"},
    {"Lemaître", "lemaitre"},   {"Girard", "girard"}, {"Bérard", "berard"}};
static const demo_name de_first[] = {
    {"Jürgen", "juergen"}, {"Lena", "lena"}, {"Jonas", "jonas"},
    {"Björn", "bjoern"},   {"Mia", "mia"},   {"Felix", "felix"}};
static const demo_name de_last[] = {
    {"Müller", "mueller"}, {"Schmidt", "schmidt"}, {"Schröder", "schroeder"},
    {"Fischer", "fischer"}, {"Weiß", "weiss"},     {"Köhler", "koehler"}};
static const demo_name es_first[] = {
    {"Lucía", "lucia"}, {"Javier", "javier"}, {"Carmen", "carmen"},
    {"José", "jose"},   {"María", "maria"},   {"Andrés", "andres"}};
static const demo_name es_last[] = {
    {"García", "garcia"},   {"Fernández", "fernandez"}, {"López", "lopez"},
    {"Martínez", "martinez"}, {"Sánchez", "sanchez"},   {"Núñez", "nunez"}};
static const demo_name us_first[] = {
    {"Ethan", "ethan"}, {"Olivia", "olivia"}, {"Noah", "noah"},
    {"Ava", "ava"},     {"Mason", "mason"},   {"Harper", "harper"}};
static const demo_name us_last[] = {
    {"Johnson", "johnson"}, {"Miller", "miller"}, {"Davis", "davis"},
    {"Garcia", "garcia"},   {"Anderson", "anderson"}, {"Moore", "moore"}};
static const demo_name zh_first[] = {
    {"小明", "xiaoming"}, {"伟", "wei"},   {"芳", "fang"},   {"静", "jing"},
    {"丽娜", "lina"},     {"强", "qiang"}, {"敏", "min"},    {"磊", "lei"},
    {"婷婷", "tingting"}, {"俊杰", "junjie"}};
static const demo_name zh_last[] = {
    {"王", "wang"}, {"李", "li"},     {"张", "zhang"}, {"刘", "liu"},
    {"陈", "chen"}, {"杨", "yang"},   {"黄", "huang"}, {"赵", "zhao"}};
static const demo_name ar_first[] = {
    {"محمد", "mohammed"}, {"أحمد", "ahmed"},   {"فاطمة", "fatima"},
    {"عائشة", "aisha"},   {"علي", "ali"},      {"خالد", "khalid"},
    {"مريم", "maryam"},   {"يوسف", "yousef"},  {"ليلى", "layla"},
    {"عمر", "omar"}};
static const demo_name ar_last[] = {
    {"الهاشمي", "alhashimi"}, {"المنصوري", "almansoori"},
    {"القاسمي", "alqasimi"},  {"الشامسي", "alshamsi"},
    {"حداد", "haddad"},       {"النعيمي", "alnuaimi"},
    {"الكعبي", "alkaabi"},    {"العتيبي", "alotaibi"}};

#define CULTURE(f, l, lang, nat, cc, mob, dom, apt, acc)                      \
    {f, l, N(f), N(l), lang, nat, cc, mob, dom, apt, acc}

/* Weighted by repetition: Latin names most, then Chinese and Arabic. */
const demo_culture demo_cultures[] = {
    CULTURE(pt_first, pt_last, "pt", "PT", "351", "9", "example.pt", "LIS", 1),
    CULTURE(pt_first, pt_last, "pt", "PT", "351", "9", "example.pt", "OPO", 1),
    CULTURE(en_first, en_last, "en", "GB", "44", "7", "example.co.uk", "LHR",
            0),
    CULTURE(fr_first, fr_last, "fr", "FR", "33", "6", "example.fr", "CDG", 1),
    CULTURE(de_first, de_last, "de", "DE", "49", "15", "example.de", "FRA", 1),
    CULTURE(es_first, es_last, "es", "ES", "34", "6", "example.es", "MAD", 1),
    CULTURE(us_first, us_last, "en", "US", "1", "212", "example.com", "JFK",
            0),
    CULTURE(zh_first, zh_last, "zh", "CN", "86", "13", "example.cn", "PVG", 0),
    CULTURE(zh_first, zh_last, "zh", "CN", "86", "13", "example.cn", "PEK", 0),
    CULTURE(ar_first, ar_last, "ar", "AE", "971", "5", "example.ae", "DXB", 0),
    CULTURE(ar_first, ar_last, "ar", "SA", "966", "5", "example.sa", "RUH", 0),
};
const size_t demo_ncultures = N(demo_cultures);
