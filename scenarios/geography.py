"""Public reference data for synthetic cohorts: Danish towns, sites, municipality codes, ISCO fields, languages."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Coordinates are WGS84 to about 100-500 m: good enough for programmes whose limits are 10-40 km.
# Town centres are shifted a little inland where the real centre sits on a harbour, so that a gaussian
# spread of homes around them mostly lands on land.

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, the same one `solver.candidates` uses

DENMARK_BOUNDS = (54.5, 57.8, 8.0, 15.2)
"""(min lat, max lat, min lon, max lon): mainland, islands and Bornholm."""


@dataclass(frozen=True, slots=True)
class Place:
    """A district where people live or work; homes scatter around it with `spread_km` as the sigma."""

    name: str
    municipality: str  # kommunekode, 3 digits
    lat: float
    lon: float
    spread_km: float = 1.0
    weight: float = 1.0  # relative number of residents, within its town


@dataclass(frozen=True, slots=True)
class Town:
    key: str
    name: str
    municipality: str
    population: int  # municipality, thousands, rounded: only a relative weight
    area: str  # where one speed-dating event would be held; several suburbs share the capital's
    districts: tuple[Place, ...]

    @property
    def lat(self) -> float:
        return self.districts[0].lat

    @property
    def lon(self) -> float:
        return self.districts[0].lon


@dataclass(frozen=True, slots=True)
class Site:
    """A workplace or campus where mentoring meetings happen."""

    key: str
    organisation: str
    address: str
    municipality: str
    lat: float
    lon: float
    area: str


@dataclass(frozen=True, slots=True)
class Field:
    """A professional field: ISCO-08 unit groups, and the manager group its leaders also hold."""

    key: str
    label: str
    codes: tuple[str, ...]
    manager_code: str = ""


MUNICIPALITIES: dict[str, str] = {
    "101": "København", "147": "Frederiksberg", "151": "Ballerup", "153": "Brøndby", "155": "Dragør",
    "157": "Gentofte", "159": "Gladsaxe", "161": "Glostrup", "163": "Herlev", "165": "Albertslund",
    "167": "Hvidovre", "169": "Høje-Taastrup", "173": "Lyngby-Taarbæk", "175": "Rødovre", "183": "Ishøj",
    "185": "Tårnby", "187": "Vallensbæk", "190": "Furesø", "201": "Allerød", "210": "Fredensborg",
    "217": "Helsingør", "219": "Hillerød", "223": "Hørsholm", "230": "Rudersdal", "240": "Egedal",
    "250": "Frederikssund", "253": "Greve", "259": "Køge", "260": "Halsnæs", "265": "Roskilde",
    "269": "Solrød", "270": "Gribskov", "306": "Odsherred", "316": "Holbæk", "320": "Faxe",
    "326": "Kalundborg", "329": "Ringsted", "330": "Slagelse", "336": "Stevns", "340": "Sorø",
    "350": "Lejre", "360": "Lolland", "370": "Næstved", "376": "Guldborgsund", "390": "Vordingborg",
    "400": "Bornholm", "410": "Middelfart", "420": "Assens", "430": "Faaborg-Midtfyn", "440": "Kerteminde",
    "450": "Nyborg", "461": "Odense", "479": "Svendborg", "480": "Nordfyns", "482": "Langeland",
    "492": "Ærø", "510": "Haderslev", "530": "Billund", "540": "Sønderborg", "550": "Tønder",
    "561": "Esbjerg", "563": "Fanø", "573": "Varde", "575": "Vejen", "580": "Aabenraa",
    "607": "Fredericia", "615": "Horsens", "621": "Kolding", "630": "Vejle", "657": "Herning",
    "661": "Holstebro", "665": "Lemvig", "671": "Struer", "706": "Syddjurs", "707": "Norddjurs",
    "710": "Favrskov", "727": "Odder", "730": "Randers", "740": "Silkeborg", "741": "Samsø",
    "746": "Skanderborg", "751": "Aarhus", "756": "Ikast-Brande", "760": "Ringkøbing-Skjern",
    "766": "Hedensted", "773": "Morsø", "779": "Skive", "787": "Thisted", "791": "Viborg",
    "810": "Brønderslev", "813": "Frederikshavn", "820": "Vesthimmerlands", "825": "Læsø",
    "840": "Rebild", "846": "Mariagerfjord", "849": "Jammerbugt", "851": "Aalborg", "860": "Hjørring",
}
"""Kommunekoder of Denmark's 98 municipalities (since the 2007 reform)."""


def _town(key: str, name: str, municipality: str, population: int, area: str,
          *districts: tuple[str, float, float, float] | tuple[str, float, float, float, float]) -> Town:
    """Districts as (name, lat, lon, spread_km[, weight])."""
    return Town(key, name, municipality, population, area, tuple(Place(d[0], municipality, *d[1:]) for d in districts))


_CAPITAL = "capital"

TOWNS: dict[str, Town] = {t.key: t for t in (
    _town("copenhagen", "København", "101", 660, _CAPITAL,
          ("Indre By", 55.6805, 12.5770, 0.7), ("Østerbro", 55.7070, 12.5740, 0.9),
          ("Nørrebro", 55.6960, 12.5450, 0.8), ("Vesterbro", 55.6680, 12.5480, 0.7),
          ("Amager Øst", 55.6590, 12.6030, 0.9), ("Amager Vest", 55.6480, 12.5780, 0.9),
          ("Valby", 55.6610, 12.5150, 0.9), ("Vanløse", 55.6870, 12.4900, 0.7),
          ("Brønshøj-Husum", 55.7060, 12.4850, 0.8), ("Bispebjerg", 55.7120, 12.5380, 0.8),
          ("Kongens Enghave", 55.6500, 12.5350, 0.6, 0.4)),
    _town("frederiksberg", "Frederiksberg", "147", 105, _CAPITAL,
          ("Frederiksberg C", 55.6790, 12.5330, 0.6), ("Fuglebakken", 55.6890, 12.5200, 0.4, 0.5),
          ("Søndermarken", 55.6710, 12.5210, 0.4, 0.5)),
    _town("lyngby", "Kongens Lyngby", "173", 57, _CAPITAL,
          ("Kongens Lyngby", 55.7704, 12.5038, 0.7), ("Virum", 55.7960, 12.4730, 0.6, 0.8),
          ("Sorgenfri", 55.7830, 12.4800, 0.4, 0.4), ("Lundtofte", 55.7930, 12.5180, 0.4, 0.4),
          ("Hjortekær", 55.7930, 12.5530, 0.4, 0.2), ("Taarbæk", 55.7880, 12.5900, 0.2, 0.1)),
    _town("gentofte", "Gentofte", "157", 75, _CAPITAL,
          ("Hellerup", 55.7310, 12.5690, 0.7), ("Gentofte", 55.7520, 12.5450, 0.7),
          ("Charlottenlund", 55.7530, 12.5780, 0.5, 0.6)),
    _town("gladsaxe", "Gladsaxe", "159", 70, _CAPITAL,
          ("Søborg", 55.7330, 12.5100, 0.6), ("Bagsværd", 55.7610, 12.4560, 0.6),
          ("Buddinge", 55.7470, 12.4920, 0.5), ("Gladsaxe", 55.7330, 12.4880, 0.5)),
    _town("rudersdal", "Holte", "230", 56, _CAPITAL,
          ("Holte", 55.8110, 12.4710, 0.7), ("Nærum", 55.8170, 12.5360, 0.5, 0.5),
          ("Birkerød", 55.8470, 12.4280, 0.7)),
    _town("herlev", "Herlev", "163", 29, _CAPITAL, ("Herlev", 55.7240, 12.4390, 0.7)),
    _town("ballerup", "Ballerup", "151", 49, _CAPITAL,
          ("Ballerup", 55.7310, 12.3630, 0.7), ("Skovlunde", 55.7190, 12.4010, 0.5, 0.5)),
    _town("roedovre", "Rødovre", "175", 41, _CAPITAL, ("Rødovre", 55.6810, 12.4520, 0.7)),
    _town("glostrup", "Glostrup", "161", 23, _CAPITAL, ("Glostrup", 55.6660, 12.4010, 0.6)),
    _town("broendby", "Brøndby", "153", 35, _CAPITAL,
          ("Brøndbyvester", 55.6490, 12.4180, 0.5), ("Brøndby Strand", 55.6240, 12.4170, 0.5),
          ("Brøndbyøster", 55.6620, 12.4320, 0.4, 0.5)),
    _town("hvidovre", "Hvidovre", "167", 53, _CAPITAL,
          ("Hvidovre", 55.6570, 12.4740, 0.8), ("Avedøre", 55.6330, 12.4500, 0.5, 0.5)),
    _town("albertslund", "Albertslund", "165", 27, _CAPITAL, ("Albertslund", 55.6570, 12.3530, 0.7)),
    _town("ishoej", "Ishøj", "183", 23, _CAPITAL, ("Ishøj", 55.6150, 12.3520, 0.6)),
    _town("taarnby", "Tårnby", "185", 43, _CAPITAL,
          ("Tårnby", 55.6300, 12.6000, 0.6), ("Kastrup", 55.6360, 12.6380, 0.5, 0.6)),
    _town("aarhus", "Aarhus", "751", 360, "aarhus",
          ("Aarhus C", 56.1560, 10.2030, 0.7), ("Trøjborg", 56.1740, 10.2100, 0.5),
          ("Frederiksbjerg", 56.1470, 10.2000, 0.5), ("Viby J", 56.1280, 10.1600, 0.9),
          ("Brabrand", 56.1540, 10.1100, 0.8), ("Åbyhøj", 56.1580, 10.1550, 0.6),
          ("Risskov", 56.1930, 10.2200, 0.7), ("Gellerup", 56.1560, 10.1360, 0.5),
          ("Højbjerg", 56.1170, 10.2000, 0.7), ("Skejby", 56.1960, 10.1850, 0.6)),
    _town("odense", "Odense", "461", 207, "odense",
          ("Odense C", 55.3959, 10.3883, 0.7), ("Vollsmose", 55.4100, 10.4330, 0.5),
          ("Bolbro", 55.3930, 10.3500, 0.6), ("Dalum", 55.3720, 10.3580, 0.6),
          ("Hjallese", 55.3530, 10.3950, 0.7), ("Tarup", 55.4080, 10.3330, 0.6),
          ("Næsby", 55.4290, 10.3700, 0.6)),
    _town("aalborg", "Aalborg", "851", 222, "aalborg",
          ("Aalborg C", 57.0440, 9.9200, 0.6), ("Aalborg Øst", 57.0360, 9.9980, 0.8),
          ("Vejgaard", 57.0420, 9.9600, 0.6), ("Hasseris", 57.0390, 9.8900, 0.7),
          ("Nørresundby", 57.0660, 9.9230, 0.6), ("Gug", 57.0160, 9.9450, 0.7)),
    _town("esbjerg", "Esbjerg", "561", 116, "esbjerg",
          ("Esbjerg C", 55.4780, 8.4650, 0.7), ("Jerne", 55.4770, 8.5000, 0.7),
          ("Sædding", 55.5030, 8.4150, 0.6), ("Kvaglund", 55.4940, 8.4680, 0.6)),
    _town("randers", "Randers", "730", 99, "randers", ("Randers", 56.4607, 10.0364, 1.4)),
    _town("kolding", "Kolding", "621", 95, "kolding", ("Kolding", 55.4904, 9.4650, 1.4)),
    _town("horsens", "Horsens", "615", 96, "horsens", ("Horsens", 55.8607, 9.8400, 1.4)),
    _town("vejle", "Vejle", "630", 120, "vejle", ("Vejle", 55.7093, 9.5357, 1.4)),
    _town("roskilde", "Roskilde", "265", 90, "roskilde", ("Roskilde", 55.6390, 12.0878, 1.4)),
    _town("herning", "Herning", "657", 90, "herning", ("Herning", 56.1393, 8.9738, 1.5)),
    _town("silkeborg", "Silkeborg", "740", 100, "silkeborg", ("Silkeborg", 56.1697, 9.5451, 1.4)),
    _town("naestved", "Næstved", "370", 83, "naestved", ("Næstved", 55.2299, 11.7609, 1.4)),
    _town("fredericia", "Fredericia", "607", 51, "fredericia", ("Fredericia", 55.5700, 9.7450, 1.1)),
    _town("viborg", "Viborg", "791", 97, "viborg", ("Viborg", 56.4532, 9.4020, 1.4)),
    _town("koege", "Køge", "259", 62, "koege", ("Køge", 55.4580, 12.1700, 1.1)),
    _town("holstebro", "Holstebro", "661", 59, "holstebro", ("Holstebro", 56.3601, 8.6161, 1.2)),
    _town("helsingoer", "Helsingør", "217", 63, "helsingoer", ("Helsingør", 56.0300, 12.5900, 1.1)),
    _town("hilleroed", "Hillerød", "219", 52, "hilleroed", ("Hillerød", 55.9267, 12.3109, 1.2)),
    _town("soenderborg", "Sønderborg", "540", 74, "soenderborg", ("Sønderborg", 54.9138, 9.7922, 1.2)),
    _town("slagelse", "Slagelse", "330", 79, "slagelse", ("Slagelse", 55.4028, 11.3546, 1.2)),
    _town("holbaek", "Holbæk", "316", 72, "holbaek", ("Holbæk", 55.7110, 11.7128, 1.1)),
    _town("hjoerring", "Hjørring", "860", 65, "hjoerring", ("Hjørring", 57.4641, 9.9823, 1.1)),
    _town("svendborg", "Svendborg", "479", 58, "svendborg", ("Svendborg", 55.0640, 10.6068, 1.0)),
)}
"""Towns by key; the first district is the centre, where town-based mentors mostly work."""

NATIONAL_TOWNS: tuple[str, ...] = (
    "copenhagen", "frederiksberg", "lyngby", "aarhus", "odense", "aalborg", "esbjerg", "randers",
    "kolding", "horsens", "vejle", "roskilde", "herning", "silkeborg", "naestved",
)
"""The 15 towns a national benchmark pool spreads over (three of them in the capital area)."""

KVINFO_CITIES: tuple[str, ...] = ("copenhagen", "aarhus", "odense", "aalborg", "esbjerg")

SITES: dict[str, Site] = {s.key: s for s in (
    # IBM's two Danish locations named in the IBM/Foreningen Nydansker programme material.
    Site("ibm_lyngby", "IBM", "Nymøllevej 91, Kongens Lyngby", "173", 55.7845, 12.5045, _CAPITAL),
    Site("ibm_broendby", "IBM", "Park Allé, Brøndby", "153", 55.6455, 12.4000, _CAPITAL),
    # Lyngby's knowledge-city employers: DTU, the municipality and companies around them.
    Site("dtu_lyngby", "DTU", "Anker Engelunds Vej 1, Kongens Lyngby", "173", 55.7858, 12.5219, _CAPITAL),
    Site("lyngby_taarbaek_kommune", "Lyngby-Taarbæk Kommune", "Lyngby Rådhus, Kongens Lyngby", "173",
         55.7705, 12.5030, _CAPITAL),
    Site("microsoft_lyngby", "Microsoft Danmark", "Kanalvej 7, Kongens Lyngby", "173", 55.7700, 12.5095,
         _CAPITAL),
    Site("cowi_lyngby", "COWI", "Parallelvej 2, Kongens Lyngby", "173", 55.7805, 12.5150, _CAPITAL),
    Site("hempel_lyngby", "Hempel", "Lundtoftegårdsvej 91, Kongens Lyngby", "173", 55.7935, 12.5145,
         _CAPITAL),
    Site("novo_bagsvaerd", "Novo Nordisk", "Novo Allé, Bagsværd", "159", 55.7587, 12.4592, _CAPITAL),
    # Copenhagen and Frederiksberg employers for the business programme.
    Site("maersk_cph", "A.P. Moller - Maersk", "Esplanaden 50, København K", "101", 55.6880, 12.5945,
         _CAPITAL),
    Site("carlsberg_valby", "Carlsberg", "J.C. Jacobsens Gade 1, Valby", "101", 55.6665, 12.5330, _CAPITAL),
    Site("danske_bank_cph", "Danske Bank", "Bernstorffsgade 40, København V", "101", 55.6705, 12.5645,
         _CAPITAL),
    Site("nordea_oerestad", "Nordea", "Grønjordsvej 10, Ørestad", "101", 55.6352, 12.5805, _CAPITAL),
    Site("ramboll_oerestad", "Ramboll", "Hannemanns Allé 53, Ørestad", "101", 55.6288, 12.5788, _CAPITAL),
    Site("kk_raadhus", "Københavns Kommune", "Rådhuspladsen 1, København V", "101", 55.6757, 12.5694,
         _CAPITAL),
    Site("frb_raadhus", "Frederiksberg Kommune", "Smallegade 1, Frederiksberg", "147", 55.6793, 12.5316,
         _CAPITAL),
    Site("rigshospitalet", "Rigshospitalet", "Blegdamsvej 9, København Ø", "101", 55.6961, 12.5661, _CAPITAL),
    Site("cph_airport", "Copenhagen Airport", "Lufthavnsboulevarden, Kastrup", "185", 55.6300, 12.6480,
         _CAPITAL),
    # The five universities of the Copenhagen Career Program.
    Site("ku_city", "KU", "Frue Plads, København K", "101", 55.6796, 12.5724, _CAPITAL),
    Site("cbs", "CBS", "Solbjerg Plads 3, Frederiksberg", "147", 55.6816, 12.5301, _CAPITAL),
    Site("itu", "ITU", "Rued Langgaards Vej 7, København S", "101", 55.6596, 12.5910, _CAPITAL),
    Site("ruc", "RUC", "Universitetsvej 1, Roskilde", "265", 55.6520, 12.1390, "roskilde"),
)}

UNIVERSITIES: dict[str, str] = {"KU": "ku_city", "CBS": "cbs", "DTU": "dtu_lyngby", "ITU": "itu", "RUC": "ruc"}
"""University -> its main campus site."""

FIELDS: dict[str, Field] = {f.key: f for f in (
    Field("it", "ICT professionals",
          ("2511", "2512", "2513", "2514", "2519", "2521", "2522", "2523", "2529"), "1330"),
    Field("ict_tech", "ICT technicians", ("3511", "3512", "3513", "3514"), "1330"),
    Field("engineering", "Engineering",
          ("2141", "2142", "2143", "2144", "2145", "2146", "2149", "2151", "2152", "2153"), "1321"),
    Field("architecture", "Architecture and design", ("2161", "2162", "2163", "2164", "2166"), "1323"),
    Field("science", "Natural sciences",
          ("2111", "2113", "2114", "2120", "2131", "2132", "2133"), "1223"),
    Field("business", "Business and administration",
          ("2411", "2412", "2413", "2421", "2422", "2423", "2424", "2431", "2432", "2433", "2434"), "1211"),
    Field("health", "Health",
          ("2211", "2212", "2221", "2222", "2250", "2261", "2262", "2264", "2265", "2269"), "1342"),
    Field("teaching", "Teaching",
          ("2310", "2320", "2330", "2341", "2342", "2351", "2352", "2353", "2356"), "1345"),
    Field("law", "Law", ("2611", "2612", "2619"), "1219"),
    Field("social", "Social sciences and social work", ("2631", "2632", "2633", "2634", "2635"), "1344"),
    Field("culture", "Culture, media and languages", ("2641", "2642", "2643", "2651", "2654"), "1222"),
    Field("business_assoc", "Business associate professionals", ("3313", "3322", "3333", "3343"), "1219"),
    Field("care", "Care work", ("5311", "5321", "5322"), "1344"),
    Field("hospitality", "Hospitality and personal services", ("5120", "5131", "5141", "5142"), "1412"),
    Field("trades", "Building and electrical trades", ("7115", "7126", "7212", "7231", "7411"), "1323"),
    Field("transport", "Transport and logistics", ("4321", "8322", "8332"), "1324"),
)}
"""Professional fields as groups of ISCO-08 unit groups (DISCO-08 uses the same first four digits)."""

OCCUPATION_LABELS: dict[str, str] = {
    "1211": "Finance managers", "1219": "Business services and administration managers n.e.c.",
    "1222": "Advertising and public relations managers", "1223": "Research and development managers",
    "1321": "Manufacturing managers", "1323": "Construction managers",
    "1324": "Supply, distribution and related managers", "1330": "ICT service managers",
    "1342": "Health services managers", "1344": "Social welfare managers", "1345": "Education managers",
    "1411": "Hotel managers", "1412": "Restaurant managers",
    "2111": "Physicists and astronomers", "2113": "Chemists", "2114": "Geologists and geophysicists",
    "2120": "Mathematicians, actuaries and statisticians", "2131": "Biologists, botanists, zoologists",
    "2132": "Farming, forestry and fisheries advisers", "2133": "Environmental protection professionals",
    "2141": "Industrial and production engineers", "2142": "Civil engineers",
    "2143": "Environmental engineers", "2144": "Mechanical engineers", "2145": "Chemical engineers",
    "2146": "Mining engineers, metallurgists", "2149": "Engineering professionals n.e.c.",
    "2151": "Electrical engineers", "2152": "Electronics engineers", "2153": "Telecommunications engineers",
    "2161": "Building architects", "2162": "Landscape architects", "2163": "Product and garment designers",
    "2164": "Town and traffic planners", "2166": "Graphic and multimedia designers",
    "2211": "Generalist medical practitioners", "2212": "Specialist medical practitioners",
    "2221": "Nursing professionals", "2222": "Midwifery professionals", "2250": "Veterinarians",
    "2261": "Dentists", "2262": "Pharmacists", "2264": "Physiotherapists", "2265": "Dieticians and nutritionists",
    "2269": "Health professionals n.e.c.",
    "2310": "University and higher education teachers", "2320": "Vocational education teachers",
    "2330": "Secondary education teachers", "2341": "Primary school teachers",
    "2342": "Early childhood educators", "2351": "Education methods specialists",
    "2352": "Special needs teachers", "2353": "Other language teachers", "2356": "Information technology trainers",
    "2411": "Accountants", "2412": "Financial and investment advisers", "2413": "Financial analysts",
    "2421": "Management and organization analysts", "2422": "Policy administration professionals",
    "2423": "Personnel and careers professionals", "2424": "Training and staff development professionals",
    "2431": "Advertising and marketing professionals", "2432": "Public relations professionals",
    "2433": "Technical and medical sales professionals", "2434": "ICT sales professionals",
    "2511": "Systems analysts", "2512": "Software developers", "2513": "Web and multimedia developers",
    "2514": "Applications programmers", "2519": "Software and applications developers n.e.c.",
    "2521": "Database designers and administrators", "2522": "Systems administrators",
    "2523": "Computer network professionals", "2529": "Database and network professionals n.e.c.",
    "2611": "Lawyers", "2612": "Judges", "2619": "Legal professionals n.e.c.",
    "2631": "Economists", "2632": "Sociologists, anthropologists", "2633": "Philosophers, historians, political scientists",
    "2634": "Psychologists", "2635": "Social work and counselling professionals",
    "2641": "Authors and related writers", "2642": "Journalists", "2643": "Translators and interpreters",
    "2651": "Visual artists", "2654": "Film, stage and related directors and producers",
    "3313": "Accounting associate professionals", "3322": "Commercial sales representatives",
    "3333": "Employment agents and contractors", "3343": "Administrative and executive secretaries",
    "3435": "Other artistic and cultural associate professionals",
    "3511": "ICT operations technicians", "3512": "ICT user support technicians",
    "3513": "Computer network and systems technicians", "3514": "Web technicians",
    "4321": "Stock clerks", "5120": "Cooks", "5131": "Waiters", "5141": "Hairdressers",
    "5142": "Beauticians", "5311": "Child care workers", "5321": "Health care assistants",
    "5322": "Home-based personal care workers", "6111": "Field crop and vegetable growers",
    "6121": "Livestock and dairy producers", "7115": "Carpenters and joiners", "7126": "Plumbers and pipe fitters",
    "7212": "Welders and flame cutters", "7231": "Motor vehicle mechanics", "7411": "Building electricians",
    "8322": "Car, taxi and van drivers", "8332": "Heavy truck and lorry drivers",
    "9112": "Cleaners and helpers in offices, hotels and other establishments",
}
"""ISCO-08 unit group titles (shortened) for every code the generator uses."""

LANGUAGE_NAMES: dict[str, str] = {
    "da": "Danish", "en": "English", "de": "German", "sv": "Swedish", "no": "Norwegian", "fr": "French",
    "es": "Spanish", "it": "Italian", "pt": "Portuguese", "pl": "Polish", "ro": "Romanian", "el": "Greek",
    "uk": "Ukrainian", "ru": "Russian", "tr": "Turkish", "ar": "Arabic", "fa": "Persian", "ps": "Pashto",
    "ku": "Kurdish", "so": "Somali", "ti": "Tigrinya", "am": "Amharic", "ur": "Urdu", "hi": "Hindi",
    "ta": "Tamil", "bn": "Bengali", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "vi": "Vietnamese",
    "tl": "Tagalog", "nl": "Dutch", "hu": "Hungarian", "lt": "Lithuanian",
}
"""ISO 639-1 codes the generator uses."""

FIRST_LANGUAGE: dict[str, str] = {
    "IN": "hi", "US": "en", "GB": "en", "AU": "en", "CA": "en", "NG": "en", "SY": "ar", "IQ": "ar",
    "LB": "ar", "EG": "ar", "UA": "uk", "RU": "ru", "IR": "fa", "AF": "fa", "ER": "ti", "ET": "am",
    "SO": "so", "CN": "zh", "BR": "pt", "PT": "pt", "ES": "es", "MX": "es", "CO": "es", "AR": "es",
    "DE": "de", "AT": "de", "FR": "fr", "IT": "it", "PL": "pl", "RO": "ro", "GR": "el", "TR": "tr",
    "PK": "ur", "BD": "bn", "LK": "ta", "JP": "ja", "KR": "ko", "VN": "vi", "PH": "tl", "NL": "nl",
    "HU": "hu", "LT": "lt", "SE": "sv", "NO": "no",
}
"""Country of origin (ISO 3166-1 alpha-2) -> the most common first language (ISO 639-1)."""

# Origin mixes per target group, loosely after Danish immigration statistics by purpose of stay:
# spouses of international specialists and students come mostly through work and study permits,
# refugees mostly from Syria, Eritrea, Afghanistan, Iran and (since 2022) Ukraine.
ORIGINS_SPOUSE: tuple[tuple[str, float], ...] = (
    ("IN", 0.16), ("US", 0.08), ("CN", 0.07), ("BR", 0.05), ("ES", 0.06), ("IT", 0.06), ("DE", 0.05),
    ("PL", 0.04), ("FR", 0.04), ("GB", 0.05), ("TR", 0.04), ("IR", 0.04), ("UA", 0.04), ("RU", 0.03),
    ("PK", 0.03), ("MX", 0.03), ("KR", 0.02), ("JP", 0.02), ("GR", 0.03), ("RO", 0.03), ("PH", 0.03),
)
ORIGINS_STUDENT: tuple[tuple[str, float], ...] = (
    ("IN", 0.12), ("CN", 0.10), ("DE", 0.10), ("IT", 0.08), ("ES", 0.07), ("US", 0.06), ("RO", 0.05),
    ("GR", 0.05), ("PL", 0.05), ("LT", 0.04), ("HU", 0.04), ("TR", 0.04), ("IR", 0.04), ("PK", 0.03),
    ("BR", 0.03), ("VN", 0.03), ("NG", 0.03), ("MX", 0.03), ("KR", 0.02), ("NL", 0.02),
)
ORIGINS_REFUGEE: tuple[tuple[str, float], ...] = (
    ("SY", 0.30), ("UA", 0.20), ("ER", 0.12), ("AF", 0.12), ("IR", 0.10), ("IQ", 0.06), ("SO", 0.06),
    ("ET", 0.02), ("LB", 0.02),
)
ORIGINS_IMMIGRANT_WOMEN: tuple[tuple[str, float], ...] = (
    ("SY", 0.16), ("TR", 0.08), ("IQ", 0.08), ("SO", 0.07), ("AF", 0.08), ("IR", 0.08), ("UA", 0.10),
    ("ER", 0.07), ("PK", 0.05), ("PH", 0.05), ("VN", 0.04), ("LB", 0.04), ("PL", 0.04),
    ("RO", 0.03), ("EG", 0.03),
)
ORIGINS_MENTOR_IMMIGRANT: tuple[tuple[str, float], ...] = (
    ("SY", 0.10), ("IR", 0.10), ("TR", 0.10), ("IQ", 0.08), ("PL", 0.10), ("DE", 0.10), ("IN", 0.10),
    ("UA", 0.08), ("PK", 0.06), ("AF", 0.06), ("SO", 0.04), ("LB", 0.04), ("CN", 0.04),
)

EXTRA_LANGUAGES_DANES: tuple[tuple[str, float], ...] = (
    ("de", 0.40), ("sv", 0.20), ("no", 0.12), ("fr", 0.14), ("es", 0.14),
)
"""Third languages Danish mentors most often speak besides Danish and English."""

MARKETS: tuple[tuple[str, float], ...] = (
    ("DE", 0.16), ("SE", 0.12), ("NO", 0.10), ("US", 0.12), ("GB", 0.10), ("CN", 0.07), ("IN", 0.05),
    ("NL", 0.06), ("FR", 0.05), ("PL", 0.04), ("ES", 0.03), ("IT", 0.03), ("TR", 0.02), ("BR", 0.02),
    ("JP", 0.02), ("AE", 0.01),
)
"""Export markets a Danish professional is most likely to know (Denmark's main trading partners)."""

INTERESTS: tuple[str, ...] = (
    "board_games", "baking", "chess", "choir", "cooking", "cycling", "dancing", "film", "fishing",
    "football", "gardening", "hiking", "history", "knitting", "languages", "music", "painting",
    "photography", "reading", "running", "sailing", "startups", "sustainability", "swimming",
    "technology", "theatre", "travel", "volunteering", "writing", "yoga",
)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def in_denmark(lat: float, lon: float) -> bool:
    lat_lo, lat_hi, lon_lo, lon_hi = DENMARK_BOUNDS
    return lat_lo <= lat <= lat_hi and lon_lo <= lon <= lon_hi
