"""The demo shop: a DuckDB file with regions, stores, products, customers and purchases.

Every row is made by set-based SQL inside DuckDB (``range()``, joins on small vocabulary
tables, ``hash(key, salt, seed)`` as the only source of chance), so ten million customers take
minutes, not hours, and the same ``seed``, ``customers`` and ``anchor`` always give the same
rows. Python only holds the vocabularies: names, cities, phone plans, product ranges.

Addresses are safe to send to by mistake: e-mail domains end in ``.example`` (RFC 2606).
"""

from __future__ import annotations

import datetime
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["TABLES", "ShopStats", "copy_to_postgres", "generate_shop", "write_project"]

#: The shop's tables, each referenced table before the tables that reference it.
TABLES = ("regions", "stores", "products", "customers", "purchases")

# --- vocabularies ---------------------------------------------------------------------------

REGIONS = ("EU", "NA", "APAC", "LATAM")

# code, region, calling code, national number length, stores, e-mail providers (most used first).
COUNTRIES: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("FR", "EU", "+33", 9, 8, "gmail,orange,free,hotmail,laposte,sfr,yahoo"),
    ("BE", "EU", "+32", 9, 2, "gmail,skynet,telenet,hotmail,outlook"),
    ("DE", "EU", "+49", 11, 6, "gmail,web,gmx,t-online,outlook"),
    ("ES", "EU", "+34", 9, 4, "gmail,hotmail,yahoo,telefonica,outlook"),
    ("IT", "EU", "+39", 10, 4, "gmail,libero,hotmail,virgilio,alice,outlook"),
    ("GB", "EU", "+44", 10, 6, "gmail,hotmail,outlook,btinternet,yahoo,icloud"),
    ("NL", "EU", "+31", 9, 2, "gmail,hotmail,ziggo,kpnmail,outlook"),
    ("CH", "EU", "+41", 9, 1, "gmail,bluewin,gmx,hotmail"),
    ("PT", "EU", "+351", 9, 1, "gmail,sapo,hotmail,outlook"),
    ("IE", "EU", "+353", 9, 1, "gmail,eircom,hotmail,outlook"),
    ("SE", "EU", "+46", 9, 1, "gmail,telia,hotmail,outlook"),
    ("US", "NA", "+1", 10, 8, "gmail,yahoo,outlook,icloud,aol,hotmail"),
    ("CA", "NA", "+1", 10, 3, "gmail,outlook,hotmail,yahoo,rogers,sympatico"),
    ("AU", "APAC", "+61", 9, 1, "gmail,bigpond,outlook,yahoo,icloud"),
    ("JP", "APAC", "+81", 10, 1, "gmail,yahoo,docomo,icloud"),
    ("SG", "APAC", "+65", 8, 1, "gmail,singnet,hotmail,yahoo"),
    ("BR", "LATAM", "+55", 11, 1, "gmail,hotmail,uol,bol,outlook"),
    ("MX", "LATAM", "+52", 10, 1, "gmail,hotmail,outlook,yahoo,prodigy"),
)

# Mobile number prefixes after the calling code, all of one length per country. Countries not
# listed (US, CA, BR, MX) take the area code of the customer's city instead.
MOBILE_PREFIXES: dict[str, str] = {
    "FR": "6 7",
    "BE": "470 471 472 473 474 475 476 477 478 479 484 485 486 487 488 489 491 492 493 494",
    "DE": "151 152 157 160 162 170 171 172 173 175 176 177 178 179",
    "ES": "6 7",
    "IT": "320 328 333 338 340 347 348 349 366 380 388 392",
    "GB": "74 75 77 78 79",
    "NL": "6",
    "CH": "75 76 77 78 79",
    "PT": "91 92 93 96",
    "IE": "83 85 86 87 89",
    "SE": "70 72 73 76 79",
    "AU": "4",
    "JP": "70 80 90",
    "SG": "8 9",
}

# country, city, weight (share of customers, in thousandths), IANA zone, name language, area code.
# City names are unique across countries, so a city always tells its country.
CITIES: tuple[tuple[str, str, int, str, str, str | None], ...] = (
    ("FR", "Paris", 70, "Europe/Paris", "fr", None),
    ("FR", "Lyon", 20, "Europe/Paris", "fr", None),
    ("FR", "Marseille", 20, "Europe/Paris", "fr", None),
    ("FR", "Toulouse", 15, "Europe/Paris", "fr", None),
    ("FR", "Bordeaux", 14, "Europe/Paris", "fr", None),
    ("FR", "Lille", 14, "Europe/Paris", "fr", None),
    ("FR", "Nice", 12, "Europe/Paris", "fr", None),
    ("FR", "Nantes", 12, "Europe/Paris", "fr", None),
    ("FR", "Strasbourg", 10, "Europe/Paris", "fr", None),
    ("FR", "Montpellier", 9, "Europe/Paris", "fr", None),
    ("FR", "Rennes", 8, "Europe/Paris", "fr", None),
    ("FR", "Grenoble", 6, "Europe/Paris", "fr", None),
    ("FR", "Dijon", 4, "Europe/Paris", "fr", None),
    ("FR", "Angers", 3, "Europe/Paris", "fr", None),
    ("FR", "Tours", 3, "Europe/Paris", "fr", None),
    ("BE", "Bruxelles", 14, "Europe/Brussels", "fr", None),
    ("BE", "Antwerpen", 9, "Europe/Brussels", "nl", None),
    ("BE", "Gent", 6, "Europe/Brussels", "nl", None),
    ("BE", "Liège", 4, "Europe/Brussels", "fr", None),
    ("BE", "Charleroi", 3, "Europe/Brussels", "fr", None),
    ("BE", "Brugge", 2, "Europe/Brussels", "nl", None),
    ("BE", "Namur", 1, "Europe/Brussels", "fr", None),
    ("BE", "Leuven", 1, "Europe/Brussels", "nl", None),
    ("DE", "Berlin", 30, "Europe/Berlin", "de", None),
    ("DE", "Hamburg", 18, "Europe/Berlin", "de", None),
    ("DE", "München", 17, "Europe/Berlin", "de", None),
    ("DE", "Köln", 13, "Europe/Berlin", "de", None),
    ("DE", "Frankfurt am Main", 11, "Europe/Berlin", "de", None),
    ("DE", "Stuttgart", 9, "Europe/Berlin", "de", None),
    ("DE", "Düsseldorf", 8, "Europe/Berlin", "de", None),
    ("DE", "Leipzig", 6, "Europe/Berlin", "de", None),
    ("DE", "Dortmund", 5, "Europe/Berlin", "de", None),
    ("DE", "Essen", 4, "Europe/Berlin", "de", None),
    ("DE", "Bremen", 3, "Europe/Berlin", "de", None),
    ("DE", "Dresden", 3, "Europe/Berlin", "de", None),
    ("DE", "Hannover", 2, "Europe/Berlin", "de", None),
    ("DE", "Nürnberg", 1, "Europe/Berlin", "de", None),
    ("ES", "Madrid", 20, "Europe/Madrid", "es", None),
    ("ES", "Barcelona", 16, "Europe/Madrid", "es", None),
    ("ES", "Valencia", 7, "Europe/Madrid", "es", None),
    ("ES", "Sevilla", 6, "Europe/Madrid", "es", None),
    ("ES", "Zaragoza", 4, "Europe/Madrid", "es", None),
    ("ES", "Málaga", 4, "Europe/Madrid", "es", None),
    ("ES", "Bilbao", 3, "Europe/Madrid", "es", None),
    ("ES", "Murcia", 2, "Europe/Madrid", "es", None),
    ("ES", "Alicante", 2, "Europe/Madrid", "es", None),
    ("ES", "Palma", 2, "Europe/Madrid", "es", None),
    ("ES", "Las Palmas de Gran Canaria", 2, "Atlantic/Canary", "es", None),
    ("ES", "Santa Cruz de Tenerife", 2, "Atlantic/Canary", "es", None),
    ("IT", "Roma", 16, "Europe/Rome", "it", None),
    ("IT", "Milano", 15, "Europe/Rome", "it", None),
    ("IT", "Napoli", 8, "Europe/Rome", "it", None),
    ("IT", "Torino", 7, "Europe/Rome", "it", None),
    ("IT", "Palermo", 4, "Europe/Rome", "it", None),
    ("IT", "Genova", 4, "Europe/Rome", "it", None),
    ("IT", "Bologna", 4, "Europe/Rome", "it", None),
    ("IT", "Firenze", 4, "Europe/Rome", "it", None),
    ("IT", "Bari", 3, "Europe/Rome", "it", None),
    ("IT", "Catania", 2, "Europe/Rome", "it", None),
    ("IT", "Venezia", 2, "Europe/Rome", "it", None),
    ("IT", "Verona", 1, "Europe/Rome", "it", None),
    ("GB", "London", 45, "Europe/London", "en", None),
    ("GB", "Manchester", 12, "Europe/London", "en", None),
    ("GB", "Birmingham", 11, "Europe/London", "en", None),
    ("GB", "Leeds", 8, "Europe/London", "en", None),
    ("GB", "Glasgow", 8, "Europe/London", "en", None),
    ("GB", "Liverpool", 7, "Europe/London", "en", None),
    ("GB", "Bristol", 7, "Europe/London", "en", None),
    ("GB", "Edinburgh", 6, "Europe/London", "en", None),
    ("GB", "Sheffield", 4, "Europe/London", "en", None),
    ("GB", "Cardiff", 4, "Europe/London", "en", None),
    ("GB", "Belfast", 3, "Europe/London", "en", None),
    ("GB", "Newcastle upon Tyne", 3, "Europe/London", "en", None),
    ("GB", "Nottingham", 2, "Europe/London", "en", None),
    ("NL", "Amsterdam", 13, "Europe/Amsterdam", "nl", None),
    ("NL", "Rotterdam", 8, "Europe/Amsterdam", "nl", None),
    ("NL", "Den Haag", 6, "Europe/Amsterdam", "nl", None),
    ("NL", "Utrecht", 5, "Europe/Amsterdam", "nl", None),
    ("NL", "Eindhoven", 3, "Europe/Amsterdam", "nl", None),
    ("NL", "Groningen", 2, "Europe/Amsterdam", "nl", None),
    ("NL", "Tilburg", 1, "Europe/Amsterdam", "nl", None),
    ("NL", "Breda", 1, "Europe/Amsterdam", "nl", None),
    ("NL", "Nijmegen", 1, "Europe/Amsterdam", "nl", None),
    ("CH", "Zürich", 7, "Europe/Zurich", "de", None),
    ("CH", "Genève", 4, "Europe/Zurich", "fr", None),
    ("CH", "Basel", 3, "Europe/Zurich", "de", None),
    ("CH", "Lausanne", 2, "Europe/Zurich", "fr", None),
    ("CH", "Bern", 2, "Europe/Zurich", "de", None),
    ("CH", "Lugano", 1, "Europe/Zurich", "it", None),
    ("CH", "Luzern", 1, "Europe/Zurich", "de", None),
    ("PT", "Lisboa", 9, "Europe/Lisbon", "pt", None),
    ("PT", "Porto", 6, "Europe/Lisbon", "pt", None),
    ("PT", "Braga", 2, "Europe/Lisbon", "pt", None),
    ("PT", "Coimbra", 1, "Europe/Lisbon", "pt", None),
    ("PT", "Faro", 1, "Europe/Lisbon", "pt", None),
    ("PT", "Funchal", 1, "Atlantic/Madeira", "pt", None),
    ("IE", "Dublin", 6, "Europe/Dublin", "en", None),
    ("IE", "Cork", 2, "Europe/Dublin", "en", None),
    ("IE", "Galway", 1, "Europe/Dublin", "en", None),
    ("IE", "Limerick", 1, "Europe/Dublin", "en", None),
    ("SE", "Stockholm", 5, "Europe/Stockholm", "sv", None),
    ("SE", "Göteborg", 3, "Europe/Stockholm", "sv", None),
    ("SE", "Malmö", 2, "Europe/Stockholm", "sv", None),
    ("US", "New York", 22, "America/New_York", "en", "212"),
    ("US", "Los Angeles", 16, "America/Los_Angeles", "en", "213"),
    ("US", "Chicago", 12, "America/Chicago", "en", "312"),
    ("US", "Houston", 10, "America/Chicago", "en", "713"),
    ("US", "Dallas", 8, "America/Chicago", "en", "214"),
    ("US", "Phoenix", 7, "America/Phoenix", "en", "602"),
    ("US", "Philadelphia", 7, "America/New_York", "en", "215"),
    ("US", "Seattle", 7, "America/Los_Angeles", "en", "206"),
    ("US", "Boston", 7, "America/New_York", "en", "617"),
    ("US", "San Diego", 6, "America/Los_Angeles", "en", "619"),
    ("US", "Miami", 6, "America/New_York", "en", "305"),
    ("US", "Atlanta", 6, "America/New_York", "en", "404"),
    ("US", "San Antonio", 5, "America/Chicago", "en", "210"),
    ("US", "Austin", 5, "America/Chicago", "en", "512"),
    ("US", "Denver", 5, "America/Denver", "en", "303"),
    ("US", "San Francisco", 5, "America/Los_Angeles", "en", "415"),
    ("US", "Portland", 2, "America/Los_Angeles", "en", "503"),
    ("US", "Minneapolis", 2, "America/Chicago", "en", "612"),
    ("US", "Detroit", 1, "America/Detroit", "en", "313"),
    ("US", "Honolulu", 1, "Pacific/Honolulu", "en", "808"),
    ("CA", "Toronto", 12, "America/Toronto", "en", "416"),
    ("CA", "Montréal", 9, "America/Toronto", "fr", "514"),
    ("CA", "Vancouver", 6, "America/Vancouver", "en", "604"),
    ("CA", "Calgary", 4, "America/Edmonton", "en", "403"),
    ("CA", "Edmonton", 3, "America/Edmonton", "en", "780"),
    ("CA", "Ottawa", 3, "America/Toronto", "en", "613"),
    ("CA", "Winnipeg", 1, "America/Winnipeg", "en", "204"),
    ("CA", "Québec", 1, "America/Toronto", "fr", "418"),
    ("CA", "Halifax", 1, "America/Halifax", "en", "902"),
    ("AU", "Sydney", 7, "Australia/Sydney", "en", None),
    ("AU", "Melbourne", 6, "Australia/Melbourne", "en", None),
    ("AU", "Brisbane", 3, "Australia/Brisbane", "en", None),
    ("AU", "Perth", 2, "Australia/Perth", "en", None),
    ("AU", "Adelaide", 1, "Australia/Adelaide", "en", None),
    ("AU", "Hobart", 1, "Australia/Hobart", "en", None),
    ("JP", "Tokyo", 9, "Asia/Tokyo", "ja", None),
    ("JP", "Osaka", 4, "Asia/Tokyo", "ja", None),
    ("JP", "Yokohama", 2, "Asia/Tokyo", "ja", None),
    ("JP", "Nagoya", 2, "Asia/Tokyo", "ja", None),
    ("JP", "Sapporo", 1, "Asia/Tokyo", "ja", None),
    ("JP", "Fukuoka", 1, "Asia/Tokyo", "ja", None),
    ("JP", "Kyoto", 1, "Asia/Tokyo", "ja", None),
    ("SG", "Singapore", 10, "Asia/Singapore", "sg", None),
    ("BR", "São Paulo", 4, "America/Sao_Paulo", "pt", "119"),
    ("BR", "Rio de Janeiro", 3, "America/Sao_Paulo", "pt", "219"),
    ("BR", "Belo Horizonte", 1, "America/Sao_Paulo", "pt", "319"),
    ("BR", "Brasília", 1, "America/Sao_Paulo", "pt", "619"),
    ("BR", "Salvador", 1, "America/Bahia", "pt", "719"),
    ("MX", "Ciudad de México", 5, "America/Mexico_City", "es", "55"),
    ("MX", "Guadalajara", 2, "America/Mexico_City", "es", "33"),
    ("MX", "Monterrey", 2, "America/Monterrey", "es", "81"),
    ("MX", "Cancún", 1, "America/Cancun", "es", "998"),
)

# language -> (first names, last names); the first ones listed are drawn a little more often.
NAMES: dict[str, tuple[str, str]] = {
    "fr": (
        "Marie Camille Léa Manon Chloé Emma Inès Sarah Julie Louise Jade Alice Juliette Anaïs "
        "Élodie Nathalie Isabelle Sophie Céline Aurélie Jean Pierre Nicolas Thomas Julien Lucas "
        "Hugo Louis Antoine Maxime Alexandre Mathieu Romain Guillaume Théo François Philippe "
        "Christophe Olivier Sébastien",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
        "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre "
        "Mercier Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc "
        "Guérin Muller Henry Roussel Nicolas",
    ),
    "de": (
        "Anna Lena Laura Julia Sarah Lisa Hannah Leonie Katharina Sabine Petra Monika Claudia "
        "Stefanie Jana Sophie Mia Emma Lea Johanna Lukas Leon Jonas Finn Paul Felix Maximilian "
        "Tim Jan Niklas Thomas Michael Andreas Stefan Markus Christian Daniel Alexander Tobias "
        "Jürgen",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
        "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
        "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
        "Herrmann König Walter Mayer Huber",
    ),
    "en": (
        "Olivia Emily Amelia Isla Ava Jessica Sophie Grace Charlotte Lily Emma Madison Ashley "
        "Jennifer Sarah Elizabeth Hannah Megan Chloe Lucy Oliver Jack Harry George James William "
        "Thomas Daniel Michael David Matthew Joshua Christopher Andrew Ryan Ethan Noah Liam "
        "Benjamin Samuel",
        "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
        "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
        "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Miller "
        "Anderson Murphy O'Brien Kelly Walsh Nguyen Garcia Martinez Rodriguez",
    ),
    "es": (
        "María Lucía Paula Laura Marta Carmen Ana Sofía Elena Isabel Cristina Raquel Alba Julia "
        "Sara Andrea Claudia Noelia Pilar Rocío Antonio José Manuel Francisco David Juan Javier "
        "Daniel Carlos Jesús Alejandro Miguel Rafael Pablo Sergio Fernando Jorge Luis Alberto "
        "Álvaro",
        "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín Jiménez "
        "Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres "
        "Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Molina Morales Suárez Ortega Delgado "
        "Castro Ortiz Rubio Marín Sanz Núñez",
    ),
    "it": (
        "Giulia Francesca Chiara Sara Martina Valentina Alessia Federica Elisa Silvia Laura Anna "
        "Sofia Aurora Giorgia Alice Elena Paola Roberta Beatrice Marco Alessandro Andrea Luca "
        "Matteo Lorenzo Francesco Davide Simone Federico Giuseppe Antonio Giovanni Stefano "
        "Riccardo Gabriele Leonardo Paolo Roberto Nicola",
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti "
        "De_Luca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani "
        "Rinaldi Caruso Ferrara Galli Martini Leone Longo Gentile Martinelli Vitale Lombardo "
        "Serra Coppola De_Santis D'Angelo Marchetti",
    ),
    "nl": (
        "Emma Julia Sophie Tess Anna Lotte Sanne Lisa Eva Fleur Sara Noor Iris Femke Anouk Daan "
        "Sem Lucas Levi Finn Milan Bram Thijs Jesse Ruben Lars Tim Jeroen Pieter Willem Sven Koen "
        "Joost Bas Niels",
        "de_Jong Jansen de_Vries van_den_Berg van_Dijk Bakker Janssens Visser Smit Meijer de_Boer "
        "Mulder de_Groot Bos Vos Peeters Hendriks van_Leeuwen Dekker Brouwer de_Wit Dijkstra "
        "Maes de_Graaf van_der_Meer Willems Kok Jacobs de_Haan Vermeulen Claes Goossens Wouters "
        "De_Smet",
    ),
    "pt": (
        "Maria Ana Beatriz Mariana Inês Leonor Carolina Sofia Juliana Camila Larissa Fernanda "
        "Gabriela Rafaela Letícia João Pedro Tiago Diogo Rodrigo Gonçalo Miguel Rafael Lucas "
        "Gabriel Matheus Guilherme Bruno Felipe Gustavo",
        "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Jesus Sousa Fernandes "
        "Gonçalves Gomes Lopes Marques Alves Almeida Ribeiro Pinto Carvalho Teixeira Moreira "
        "Correia Mendes Nunes Soares Vieira Monteiro Cardoso Lima Barbosa Araújo",
    ),
    "sv": (
        "Alice Maja Elsa Astrid Wilma Ebba Saga Freja Linnea Klara Ingrid Karin Lena Anna Eva "
        "William Lucas Liam Oscar Elias Hugo Erik Lars Anders Johan Karl Nils Olof Gustav Magnus",
        "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson "
        "Gustafsson Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson "
        "Magnusson Olofsson Lindström Lindqvist Lindgren Berg Axelsson Bergström Lundberg "
        "Lundgren",
    ),
    "ja": (
        "Yui Hina Aoi Sakura Yuna Mei Rin Haruka Yuki Misaki Emi Keiko Yoko Naoko Akiko Haruto "
        "Yuto Sota Riku Hiroshi Takashi Kenji Daiki Shota Kaito Ren Takumi Koji Makoto Satoshi",
        "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida "
        "Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Yamazaki Mori Abe Ikeda "
        "Hashimoto Ishikawa Ogawa Fujita Okada Goto Hasegawa",
    ),
    "sg": (
        "Wei_Ling Hui_Min Mei_Ling Xin_Yi Jia_Hui Shu_Fen Li_Ting Siti Nurul Priya Kavitha "
        "Rachel Michelle Grace Jasmine Wei_Jie Jun_Jie Zhi_Hao Kai_Wen Jian_Hong Muhammad Ahmad "
        "Arjun Ravi Daniel Ryan Marcus Kelvin Benjamin Jonathan",
        "Tan Lim Lee Ng Ong Wong Goh Chua Chan Koh Teo Ang Yeo Tay Ho Low Toh Sim Chong Chia "
        "Kumar Singh Rahman Ismail Abdullah Pillai",
    ),
}

# category, number of products, lowest and highest price.
CATEGORIES: tuple[tuple[str, int, int, int], ...] = (
    ("apparel", 120, 9, 149),
    ("shoes", 70, 39, 189),
    ("beauty", 80, 5, 89),
    ("home", 80, 7, 299),
    ("electronics", 50, 19, 999),
    ("sports", 60, 9, 349),
    ("books", 40, 6, 45),
)
# Kinds of item per category; a product is an adjective and a kind ("Coastal Hoodie"), so a
# category holds at most 10 products per kind.
KINDS: dict[str, str] = {
    "apparel": "T-Shirt,Hoodie,Jeans,Chinos,Dress,Skirt,Jacket,Coat,Sweater,Shirt,Polo,Scarf",
    "shoes": "Sneakers,Runners,Loafers,Boots,Sandals,Trail Shoes,Espadrilles",
    "beauty": "Face Cream,Serum,Lipstick,Mascara,Shampoo,Perfume,Body Lotion,Sun Cream",
    "home": "Candle,Throw,Cushion,Lamp,Vase,Mug Set,Bed Linen,Towel Set",
    "electronics": "Headphones,Speaker,Smartwatch,Tablet,E-Reader",
    "sports": "Yoga Mat,Dumbbells,Racket,Backpack,Water Bottle,Fitness Tracker",
    "books": "Cookbook,Novel,Travel Guide,Thriller",
}
ADJECTIVES = "Classic Urban Essential Premium Eco Nova Coastal Heritage Alpine Vivid"
LOYALTY_TIERS = (("none", 0.55), ("bronze", 0.22), ("silver", 0.12), ("gold", 0.08))  # platinum
TOKEN_SALT = "partita-demo"

# --- proportions ----------------------------------------------------------------------------

NULL_EMAIL = 0.03  # customers without an e-mail address
TWIN = 0.0105  # customers who registered again with the e-mail of another one (when it has one)
NULL_PHONE = 0.20
NULL_TOKEN = 0.60
NO_PURCHASE = 0.10
GEOMETRIC_P = 0.18  # purchases beyond the first: geometric, mean (1 - p) / p = 4.56
MAX_PURCHASES = 100
HOME_STORE = 0.80  # purchases made in the customer's home store
PURCHASE_DAYS = 730
SIGNUP_DAYS = 5 * 365


@dataclass(frozen=True)
class ShopStats:
    """What :func:`generate_shop` wrote: rows per table and the seconds it took."""

    path: Path
    regions: int
    stores: int
    products: int
    customers: int
    purchases: int
    seconds: float

    @property
    def rows(self) -> dict[str, int]:
        """Rows per table, by table name."""
        return {
            "regions": self.regions,
            "stores": self.stores,
            "products": self.products,
            "customers": self.customers,
            "purchases": self.purchases,
        }


def generate_shop(
    path: Path,
    customers: int = 100_000,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
    anchor: datetime.date | None = None,
) -> ShopStats:
    """(Re)create the shop database at ``path``; the same arguments always give the same rows.

    ``anchor`` is the day the data ends (purchases and sign-ups happen before it, ages are counted
    on it); by default today, so that "in the last 30 days" finds rows. Pass a fixed date for
    data that never changes.
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a positive integer, not {customers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, not {seed!r}")
    if isinstance(anchor, datetime.datetime):
        anchor = anchor.date()
    day = anchor or datetime.date.today()
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(path))
    try:
        _prepare(con, seed)
        for table, statements in _tables(customers, seed, day):
            for statement in statements:
                con.execute(statement)
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
            if progress is not None:
                progress(f"{table}: {counts[table]:,} rows")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        for partial in (path, path.with_name(path.name + ".wal")):
            partial.unlink(missing_ok=True)
        raise
    con.close()
    return ShopStats(path=path, seconds=time.perf_counter() - started, **counts)


# --- SQL ------------------------------------------------------------------------------------


def _prepare(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """Chance as macros of (key, salt) and the vocabularies as temporary tables."""
    con.execute(
        f"""
        CREATE TEMP MACRO rnd(i, salt) AS
            (hash(i, salt, {seed}::BIGINT) >> 11)::DOUBLE / 9007199254740992.0;
        CREATE TEMP MACRO pick(i, salt, n) AS
            (hash(i, salt, {seed}::BIGINT) % (n)::UBIGINT)::BIGINT;
        """
    )
    _temp_table(con, "t_regions", {"code": list(REGIONS)})
    _temp_table(
        con,
        "t_countries",
        {
            "code": [c[0] for c in COUNTRIES],
            "region_id": [REGIONS.index(c[1]) + 1 for c in COUNTRIES],
            "dial": [c[2] for c in COUNTRIES],
            "national_len": [c[3] for c in COUNTRIES],
            "prefixes": [MOBILE_PREFIXES.get(c[0], "").replace(" ", ",") for c in COUNTRIES],
            "stores": [c[4] for c in COUNTRIES],
            "domains": [",".join(f"{d}.example" for d in c[5].split(",")) for c in COUNTRIES],
        },
    )
    _temp_table(
        con,
        "t_cities",
        {
            "country": [c[0] for c in CITIES],
            "name": [c[1] for c in CITIES],
            "weight": [c[2] for c in CITIES],
            "tz": [c[3] for c in CITIES],
            "lang": [c[4] for c in CITIES],
            "area": [c[5] for c in CITIES],
        },
    )
    for table, column in (("t_first", 0), ("t_last", 1)):
        pairs = [
            (lang, word.replace("_", " "))
            for lang, lists in NAMES.items()
            for word in lists[column].split()
        ]
        _temp_table(con, table, {"lang": [p[0] for p in pairs], "name": [p[1] for p in pairs]})
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT lang, name,
                   (row_number() OVER (PARTITION BY lang ORDER BY id) - 1)::BIGINT AS idx,
                   regexp_replace(lower(strip_accents(name)), '[^a-z]', '', 'g') AS slug,
                   count(*) OVER (PARTITION BY lang) AS n
            FROM {table}
            """
        )
    _temp_table(
        con,
        "t_categories",
        {
            "name": [c[0] for c in CATEGORIES],
            "n": [c[1] for c in CATEGORIES],
            "lo": [c[2] for c in CATEGORIES],
            "hi": [c[3] for c in CATEGORIES],
            "kinds": [KINDS[c[0]] for c in CATEGORIES],
        },
    )


def _temp_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, list[Any]]) -> None:
    """A temporary table from parallel Python lists, numbered ``id`` from 1 in list order."""
    size = len(next(iter(columns.values())))
    names = list(columns)
    selects = ", ".join(f"unnest(${i + 1}) AS {column}" for i, column in enumerate(names))
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT unnest(range(1, {size + 1})) AS id, {selects}",
        [columns[column] for column in names],
    )


def _tables(
    customers: int, seed: int, anchor: datetime.date
) -> Sequence[tuple[str, Sequence[str]]]:
    """Each table with the statements that create and fill it, in dependency order."""
    midnight = f"TIMESTAMP '{anchor.isoformat()} 00:00:00'"
    youngest = _years_before(anchor, 18)  # born on this day: 18 today
    oldest = _years_before(anchor, 91) + datetime.timedelta(days=1)  # 90 until tomorrow
    birth_span = (youngest - oldest).days + 1
    products = sum(c[1] for c in CATEGORIES)
    slots = sum(c[2] for c in CITIES)
    tiers = " ".join(
        f"WHEN u < {sum(share for _, share in LOYALTY_TIERS[: i + 1]):.4f} THEN '{tier}'"
        for i, (tier, _) in enumerate(LOYALTY_TIERS)
    )
    regions = (
        """
        CREATE TABLE regions (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)
        """,
        """
        INSERT INTO regions SELECT id, code FROM t_regions ORDER BY id
        """,
    )
    stores = (
        """
        CREATE TABLE stores (
            id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, city VARCHAR NOT NULL,
            country VARCHAR NOT NULL, region_id INTEGER NOT NULL
        )
        """,
        # the biggest cities of each country get a store; ids run country by country
        """
        INSERT INTO stores
        WITH ranked AS (
            SELECT ci.name AS city, co.code AS country, co.region_id, co.id AS country_id,
                   co.stores,
                   row_number() OVER (PARTITION BY co.id ORDER BY ci.weight DESC, ci.id) AS r
            FROM t_cities ci JOIN t_countries co ON co.code = ci.country
        )
        SELECT row_number() OVER (ORDER BY region_id, country_id, r) AS id,
               'Shop ' || city, city, country, region_id
        FROM ranked WHERE r <= stores
        ORDER BY id
        """,
        # one row per share of customers: slot -> city, country and everything drawn from it
        """
        CREATE TEMP TABLE t_slots AS
        WITH repeated AS (SELECT id AS city_id, unnest(range(weight)) AS k FROM t_cities),
        home AS (
            SELECT country, min(id) AS first_store, count(*) AS stores
            FROM stores GROUP BY country
        )
        SELECT (row_number() OVER (ORDER BY r.city_id, r.k) - 1)::BIGINT AS slot,
               ci.name AS city, ci.country, ci.tz, ci.lang, co.dial, ci.area, co.prefixes,
               greatest(1, len(string_split(co.prefixes, ','))) AS n_prefixes,
               pow(10, co.national_len
                       - len(coalesce(ci.area, split_part(co.prefixes, ',', 1))) - 1
               )::BIGINT AS unit,
               co.domains, len(string_split(co.domains, ',')) AS n_domains,
               h.first_store, h.stores,
               (SELECT any_value(n) FROM t_first f WHERE f.lang = ci.lang) AS n_first,
               (SELECT any_value(n) FROM t_last l WHERE l.lang = ci.lang) AS n_last
        FROM repeated r
        JOIN t_cities ci ON ci.id = r.city_id
        JOIN t_countries co ON co.code = ci.country
        JOIN home h ON h.country = ci.country
        ORDER BY slot
        """,
    )
    products_sql = (
        """
        CREATE TABLE products (
            id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, category VARCHAR NOT NULL,
            price DECIMAL(10, 2) NOT NULL
        )
        """,
        f"""
        INSERT INTO products
        WITH items AS (
            SELECT id AS category_id, name AS category, lo, hi, kinds,
                   unnest(range(n)) AS k
            FROM t_categories
        ), numbered AS (
            SELECT row_number() OVER (ORDER BY category_id, k) AS id, * FROM items
        )
        SELECT id,
               split_part('{ADJECTIVES}', ' ', (1 + k % 10)::INTEGER) || ' '
                   || split_part(kinds, ',', (1 + k // 10)::INTEGER),
               category,
               (round(lo + (hi - lo) * rnd(id, 40) ** 2) - 0.01)::DECIMAL(10, 2)
        FROM numbered
        ORDER BY id
        """,
    )
    customers_sql = (
        """
        CREATE TABLE customers (
            id BIGINT PRIMARY KEY, first_name VARCHAR NOT NULL, last_name VARCHAR NOT NULL,
            email VARCHAR, phone VARCHAR, country VARCHAR NOT NULL, city VARCHAR NOT NULL,
            birth_date DATE NOT NULL, loyalty_tier VARCHAR NOT NULL,
            email_optin BOOLEAN NOT NULL, sms_optin BOOLEAN NOT NULL, device_token VARCHAR,
            tz VARCHAR NOT NULL, store_id INTEGER NOT NULL, created_at TIMESTAMP NOT NULL
        )
        """,
        # person: whose identity (name, e-mail, phone, city, birthday) the row carries; a twin
        # is a second account of someone who has an e-mail and is no twin
        f"""
        INSERT INTO customers
        WITH ids AS (
            SELECT id, CASE WHEN rnd(id, 1) < {TWIN} THEN 1 + pick(id, 2, {customers}) END AS twin
            FROM range(1, {customers + 1}) r(id)
        ), people AS (
            SELECT id,
                   CASE WHEN twin <> id AND rnd(twin, 1) >= {TWIN}
                             AND rnd(twin, 3) >= {NULL_EMAIL}
                        THEN twin ELSE id END AS person
            FROM ids
        ), placed AS (
            SELECT p.id, p.person, s.*,
                   floor(s.n_first * rnd(p.person, 5) ** 1.3)::BIGINT AS first_idx,
                   floor(s.n_last * rnd(p.person, 6) ** 1.3)::BIGINT AS last_idx
            FROM (SELECT *, pick(person, 4, {slots}) AS slot FROM people) p
            JOIN t_slots s ON s.slot = p.slot
        ), named AS (
            SELECT x.*, f.name AS first_name, f.slug AS first_slug,
                   l.name AS last_name, l.slug AS last_slug
            FROM placed x
            JOIN t_first f ON f.lang = x.lang AND f.idx = x.first_idx
            JOIN t_last l ON l.lang = x.lang AND l.idx = x.last_idx
        ), addressed AS (
            SELECT *,
                   CASE pick(person, 7, 4)
                       WHEN 0 THEN first_slug || '.' || last_slug
                       WHEN 1 THEN left(first_slug, 1) || last_slug
                       WHEN 2 THEN first_slug || '_' || last_slug
                       ELSE last_slug || '.' || first_slug
                   END || person::VARCHAR || '@'
                   || split_part(domains, ',',
                                 (1 + floor(n_domains * rnd(person, 8) ** 1.8))::INTEGER)
                   AS address,
                   CASE WHEN rnd(id, 9) >= {NULL_PHONE} THEN
                       dial || coalesce(area, split_part(
                           prefixes, ',', (1 + pick(person, 10, n_prefixes))::INTEGER))
                       || (2 * unit + pick(person, 11, 8 * unit))::VARCHAR
                   END AS phone,
                   rnd(id, 14) AS u
            FROM named
        )
        SELECT id, first_name, last_name,
               CASE WHEN person <> id THEN
                        CASE WHEN rnd(id, 12) < 0.25
                                 THEN upper(left(address, 1)) || substr(address, 2)
                             WHEN rnd(id, 12) < 0.40 THEN upper(address)
                             ELSE address END
                    WHEN rnd(id, 3) >= {NULL_EMAIL} THEN address
               END AS email,
               phone, country, city,
               DATE '{youngest.isoformat()}' - floor(
                   {birth_span} * ((rnd(person, 15) + rnd(person, 16) + rnd(person, 17)) / 3)
                   ** 1.6)::INTEGER AS birth_date,
               CASE {tiers} ELSE 'platinum' END AS loyalty_tier,
               email IS NOT NULL AND rnd(id, 18) < 0.72 AS email_optin,
               phone IS NOT NULL AND rnd(id, 19) < 0.5 AS sms_optin,
               CASE WHEN rnd(id, 20) >= {NULL_TOKEN}
                    THEN sha256('{TOKEN_SALT}:{seed}:' || id::VARCHAR)
               END AS device_token,
               tz,
               first_store + pick(id, 22, stores) AS store_id,
               {midnight} - to_seconds(86400 + floor(
                   ({SIGNUP_DAYS} - 1) * 86400 * rnd(id, 23) ** 1.3)::BIGINT) AS created_at
        FROM addressed
        ORDER BY id
        """,
    )
    purchases_sql = (
        """
        CREATE TABLE purchases (
            id BIGINT NOT NULL, customer_id BIGINT NOT NULL, product_id INTEGER NOT NULL,
            store_id INTEGER NOT NULL, amount DECIMAL(10, 2) NOT NULL,
            category VARCHAR NOT NULL, purchased_at TIMESTAMP NOT NULL
        )
        """,
        # how many purchases each customer made, and the id before their first one
        f"""
        CREATE TEMP TABLE t_baskets AS
        WITH counted AS (
            SELECT id, store_id, created_at,
                   CASE WHEN rnd(id, 30) < {NO_PURCHASE} THEN 0
                        ELSE 1 + least({MAX_PURCHASES - 1},
                                       floor(ln(1 - rnd(id, 31)) / ln(1 - {GEOMETRIC_P})))
                   END::BIGINT AS n
            FROM customers
        )
        SELECT *, (sum(n) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) - n)::BIGINT AS before
        FROM counted
        WHERE n > 0
        ORDER BY id
        """,
        f"""
        INSERT INTO purchases
        WITH lines AS (
            SELECT before + k + 1 AS id, id AS customer_id, store_id AS home, created_at,
                   least({PURCHASE_DAYS}, date_diff('day', created_at, {midnight})) AS days
            FROM (SELECT *, unnest(range(n)) AS k FROM t_baskets)
        ), drawn AS (
            SELECT id, customer_id, created_at,
                   1 + (floor({products} * rnd(id, 32) ** 2.2)::BIGINT * 211) % {products}
                       AS product_id,
                   CASE WHEN rnd(id, 33) < {HOME_STORE} THEN home
                        ELSE 1 + pick(id, 34, (SELECT count(*) FROM stores)) END AS store_id,
                   (1 + floor(days * rnd(id, 35) ** 2))::INTEGER AS days_ago,
                   CASE WHEN rnd(id, 36) < 0.9 THEN 28800 + pick(id, 37, 50400)
                        ELSE pick(id, 37, 86400) END AS second_of_day,
                   CASE WHEN rnd(id, 38) < 0.04 THEN 3 WHEN rnd(id, 38) < 0.14 THEN 2
                        ELSE 1 END AS quantity,
                   CASE WHEN rnd(id, 39) < 0.15 THEN 10 * (1 + pick(id, 40, 3))
                        ELSE 0 END AS discount
            FROM lines
        )
        SELECT d.id, d.customer_id, d.product_id, d.store_id,
               (p.price * d.quantity * (100 - d.discount) / 100)::DECIMAL(10, 2),
               p.category,
               greatest({midnight} - to_days(d.days_ago) + to_seconds(d.second_of_day),
                        d.created_at + INTERVAL 10 MINUTE)
        FROM drawn d JOIN products p ON p.id = d.product_id
        ORDER BY d.id
        """,
    )
    return (
        ("regions", regions),
        ("stores", stores),
        ("products", products_sql),
        ("customers", customers_sql),
        ("purchases", purchases_sql),
    )


def _years_before(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# --- project file ---------------------------------------------------------------------------

PROJECT_TEMPLATE = """\
# Partita project for the demo shop (written by partita.examples.shop.write_project).
# Every command run in this folder (or given --project DIR) reads this file.

# Where the data lives: any Ibis connection URL. A relative DuckDB path starts at this folder.
warehouse: @WAREHOUSE@

# Where Partita keeps campaigns, executions, logs and the delivery ledger.
state: sqlite:///.partita/state.db

# Working tables (the population on each transition) go here; with DuckDB they live in a
# separate file (.partita/work.duckdb) that attaches the shop data read-only.
working_schema: partita_work

# Tracking of opens, clicks and unsubscribes (docs/tracking.md): uncomment, export a secret
# in PARTITA_TRACKING_SECRET and run `partita serve` at this address.
# tracking_url: http://127.0.0.1:8765

# Dimensions: the tables a campaign can target, their key, and for people the columns that hold
# addresses, consent per channel and time zone (for quiet hours and local-time waits).
dimensions:
  customers:
    table: customers
    key: id
    email: email
    phone: phone
    push_token: device_token
    timezone: tz
    consent: {email: email_optin, sms: sms_optin}
  purchases: {table: purchases, key: id}
  products: {table: products, key: id}
  stores: {table: stores, key: id}
  regions: {table: regions, key: id}

# Links: named ways from one dimension to another, used by filters such as
# "exists purchases (purchased_at > days_ago(30))" or "store.country = 'FR'".
# "on" maps columns of the 'from' table to columns of the 'to' table (quoted, because YAML 1.1
# reads a bare on as true); 'many' links are tested with exists / count, 'one' links are
# followed with a dot.
links:
  - {name: purchases, from: customers, to: purchases, "on": {id: customer_id}, cardinality: many}
  - {name: store, from: customers, to: stores, "on": {store_id: id}, cardinality: one}
  - {name: customer, from: purchases, to: customers, "on": {customer_id: id}, cardinality: one}
  - {name: product, from: purchases, to: products, "on": {product_id: id}, cardinality: one}
  - {name: store, from: purchases, to: stores, "on": {store_id: id}, cardinality: one}
  - {name: purchases, from: products, to: purchases, "on": {id: product_id}, cardinality: many}
  - {name: region, from: stores, to: regions, "on": {region_id: id}, cardinality: one}
  - {name: customers, from: stores, to: customers, "on": {id: store_id}, cardinality: many}
  - {name: purchases, from: stores, to: purchases, "on": {id: store_id}, cardinality: many}
  - {name: stores, from: regions, to: stores, "on": {id: region_id}, cardinality: many}

# Channels: how messages leave. The demo writes them to files: one .eml per email in
# outbox/email, one .json per SMS in outbox/sms (a local sink; nothing leaves the machine).
# A real server: {provider: smtp, host: smtp.example.com, port: 587, username: "${SMTP_USER}",
# password: "${SMTP_PASSWORD}", sender: ...}. Secrets belong in environment variables,
# written as "${VARIABLE}" (docs/channels.md lists every provider).
channels:
  email: {provider: outbox, folder: outbox/email, sender: "Shop <news@shop.example>"}
  sms: {provider: outbox, folder: outbox/sms}

# Working tables of the last N executions of each campaign are kept; older ones are dropped.
retention:
  executions: 5
"""


def write_project(folder: Path, database: str = "shop.duckdb") -> Path:
    """Write ``partita.yaml`` for the demo shop into ``folder``; return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = _yaml_string(f"duckdb:///{database}")
    target = folder / "partita.yaml"
    target.write_text(PROJECT_TEMPLATE.replace("@WAREHOUSE@", warehouse), encoding="utf-8")
    return target


def _yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (YAML's double quotes accept JSON string escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# --- a copy on PostgreSQL -------------------------------------------------------------------

#: The DuckDB column types of the shop and the PostgreSQL type that holds the same values.
POSTGRES_TYPES = {
    "BIGINT": "BIGINT",
    "INTEGER": "INTEGER",
    "VARCHAR": "VARCHAR",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "BOOLEAN": "BOOLEAN",
}
_DECIMAL = re.compile(r"DECIMAL\(\d+,\s*\d+\)")


def _postgres_ddl(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, list[str]]:
    """``CREATE TABLE`` for PostgreSQL with the DuckDB table's types, NOT NULLs and primary key."""
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    keys = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [table],
    ).fetchall()
    parts = []
    for name, kind, nullable in columns:
        if kind not in POSTGRES_TYPES and not _DECIMAL.fullmatch(kind):
            raise ValueError(f"no PostgreSQL type for {table}.{name} ({kind})")
        pg_type = POSTGRES_TYPES.get(kind, kind)
        parts.append(f"{name} {pg_type}{' NOT NULL' if nullable == 'NO' else ''}")
    if keys:
        parts.append(f"PRIMARY KEY ({', '.join(keys[0][0])})")
    return f"CREATE TABLE {table} ({', '.join(parts)})", [c[0] for c in columns]


def copy_to_postgres(shop_file: Path, connection: Any) -> None:
    """Copy every table of a generated shop into the database of ``connection`` (a psycopg
    connection in autocommit mode, on a database without those tables), then ``ANALYZE``:
    DuckDB writes each table as CSV to a temporary folder, PostgreSQL reads it with COPY."""
    source = duckdb.connect(str(shop_file), read_only=True)
    try:
        with tempfile.TemporaryDirectory(prefix="partita-shop-") as scratch:
            for table in TABLES:
                ddl, columns = _postgres_ddl(source, table)
                connection.execute(ddl)
                path = Path(scratch) / f"{table}.csv"
                source.execute(
                    f"COPY (SELECT * FROM {table} ORDER BY ALL) TO '{path}' "
                    "(FORMAT csv, HEADER false, NULLSTR '\\N', FORCE_QUOTE *)"
                )
                copy_sql = (
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv, NULL '\\N')"
                )
                with (
                    connection.cursor() as cursor,
                    cursor.copy(copy_sql) as copy,
                    path.open("rb") as f,
                ):
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                path.unlink()
        connection.execute("ANALYZE")
    finally:
        source.close()
