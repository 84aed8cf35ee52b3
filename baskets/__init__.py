"""baskets"""
